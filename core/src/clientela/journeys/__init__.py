"""The part of clientela that contacts people: the message ledger, journeys and campaigns.

* `ledger`: one row per message key, written before any provider is called;
* `planner`: the channel, the due time (quiet hours) or the suppression reason;
* `dispatch`: settling crashes by asking the provider, pacing, recording;
* `journeys` and `triggers`: automatic journeys declared as data;
* `campaigns`: one-off sends with deterministic control groups, written as
  Campaign and Touch so the campaign metrics read the results.
"""
