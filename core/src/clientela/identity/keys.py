"""The match keys of customer records, as SQL over the `customers` table.

A customer's keys are its valid CPF, its e-mail address and its phone number, normalised
(`clientela.identity.normalize`) and kept as MD5 digests: equal values give equal digests,
and `identity_keys` holds no address a person could read. The `link` key is the customer_id
a source named in the customer's attributes (`[identity] link_attribute`, by default
`identity_link`): the record belongs to that customer's person.
"""

from __future__ import annotations

from clientela.config import IdentityConfig
from clientela.identity.normalize import (
    calling_code_for,
    cpf_levels,
    email_levels,
    phone_levels,
    staged_select,
)

DIGESTED = ("cpf", "email", "phone")
"""Rules whose keys are personal data, kept as digests."""


def _normalised(config: IdentityConfig, relation: str) -> str:
    attribute = config.link_attribute.replace("'", "''").replace('"', '\\"')
    source = (f"""(SELECT customer_id, cpf, email, phone,
                   NULLIF(trim(json_extract_string(CAST(attributes AS JSON),
                                                   '$."{attribute}"')), '') AS link
                   FROM {relation})""")
    return staged_select(
        source,
        cpf_levels("cpf", "cpf_key"),
        email_levels("email", "email_key", strip_plus=config.strip_plus_addressing),
        phone_levels("phone", "phone_key", calling_code=calling_code_for(config.default_country),
                     area_code=config.default_area_code),
        keep="customer_id, cpf_key AS cpf, email_key AS email, phone_key AS phone, link")


def _unpivoted(config: IdentityConfig, relation: str) -> str:
    """SELECT customer_id, rule, value: one row per non-NULL key of each row of `relation`
    (a cross join with the rule names rather than DuckDB's UNPIVOT, so that the store's
    PostgreSQL translation runs the same statement)."""
    return f"""SELECT customer_id, rule, value FROM (
                   SELECT n.customer_id, r.rule,
                          CASE r.rule WHEN 'cpf' THEN n.cpf WHEN 'email' THEN n.email
                                      WHEN 'phone' THEN n.phone ELSE n.link END AS value
                   FROM ({_normalised(config, relation)}) n
                   CROSS JOIN (VALUES ('cpf'), ('email'), ('phone'), ('link')) AS r(rule)
               ) WHERE value IS NOT NULL"""


def keys_sql(config: IdentityConfig, relation: str = "customers") -> str:
    """SELECT customer_id, rule, value: the keys of the customer rows of `relation`, one row per
    key and row (a customer in two sources may hold two e-mails, or the same one twice)."""
    return f"""SELECT customer_id, rule,
                      CASE WHEN rule = 'link' THEN value ELSE md5(value) END AS value
               FROM ({_unpivoted(config, relation)})"""


def readable_keys_sql(config: IdentityConfig, relation: str) -> str:
    """SELECT customer_id, rule, value, digest: the keys with their normalised values, for
    showing a conflict's key masked (never stored)."""
    return f"""SELECT customer_id, rule, value,
                      CASE WHEN rule = 'link' THEN value ELSE md5(value) END AS digest
               FROM ({_unpivoted(config, relation)})"""
