"""Agencies: many client workspaces, each with its own store, run on schedules.

`workspaces` reads the agency file (`clientela-agency.toml`, or `[workspaces.<name>]`
sections in `clientela.toml`); `schedules` says when a job is due; `history`
keeps each workspace's run log in its own store; `runner` runs what is due,
one lock per store, one workspace's failure never stopping the others.
"""
