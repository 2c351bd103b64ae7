"""The GraphQL documents the connector sends, built from one field list per record.

Paged reads and bulk operations select the same fields, so a record looks
the same whichever way it arrived (and the deduplication of re-read
records compares like with like). Amounts are read in `shopMoney` only:
the shop's currency is what the books are kept in, while `presentmentMoney`
is whatever the buyer saw at checkout.
"""

from __future__ import annotations

from dataclasses import dataclass

MONEY = "shopMoney { amount currencyCode }"

LINE_FIELDS = f"""
  id sku name quantity
  originalUnitPriceSet {{ {MONEY} }}
  discountedTotalSet {{ {MONEY} }}
  product {{ id }}
"""

ORDER_FIELDS = f"""
  id createdAt updatedAt cancelledAt
  displayFinancialStatus displayFulfillmentStatus
  currencyCode presentmentCurrencyCode
  sourceName
  channelInformation {{ channelDefinition {{ handle }} }}
  retailLocation {{ id }}
  customer {{ id }}
  discountCodes
  subtotalPriceSet {{ {MONEY} }}
  totalDiscountsSet {{ {MONEY} }}
  totalShippingPriceSet {{ {MONEY} }}
  totalTaxSet {{ {MONEY} }}
  totalPriceSet {{ {MONEY} }}
  totalRefundedSet {{ {MONEY} }}
  refunds {{ id createdAt totalRefundedSet {{ {MONEY} }} }}
"""

CUSTOMER_FIELDS = """
  id email phone firstName lastName createdAt updatedAt tags
  defaultAddress { city provinceCode countryCodeV2 }
  emailMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }
  smsMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }
"""

PAGE_INFO = "pageInfo { hasNextPage endCursor }"


@dataclass(frozen=True)
class Operation:
    """A named document: the name is what the cost bucket learns prices by, and what a
    proxy's logs show."""

    name: str
    text: str


ORDERS = Operation("ClientelaOrders", f"""
query ClientelaOrders($first: Int!, $after: String, $query: String, $lines: Int!) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    edges {{ node {{
      {ORDER_FIELDS}
      lineItems(first: $lines) {{ edges {{ node {{ {LINE_FIELDS} }} }} {PAGE_INFO} }}
    }} }}
    {PAGE_INFO}
  }}
}}""")

ORDER_LINES = Operation("ClientelaOrderLines", f"""
query ClientelaOrderLines($id: ID!, $first: Int!, $after: String) {{
  order(id: $id) {{
    lineItems(first: $first, after: $after) {{ edges {{ node {{ {LINE_FIELDS} }} }} {PAGE_INFO} }}
  }}
}}""")

CUSTOMERS = Operation("ClientelaCustomers", f"""
query ClientelaCustomers($first: Int!, $after: String, $query: String) {{
  customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    edges {{ node {{ {CUSTOMER_FIELDS} }} }}
    {PAGE_INFO}
  }}
}}""")

ORDERS_COUNT = Operation("ClientelaOrdersCount", """
query ClientelaOrdersCount($limit: Int) { ordersCount(limit: $limit) { count precision } }""")

CUSTOMERS_COUNT = Operation("ClientelaCustomersCount", """
query ClientelaCustomersCount { customersCount { count precision } }""")

BULK_RUN = Operation("ClientelaBulkRun", """
mutation ClientelaBulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}""")

BULK_POLL = Operation("ClientelaBulkPoll", """
query ClientelaBulkPoll($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount rootObjectCount url partialDataUrl }
  }
}""")

BULK_CURRENT = Operation("ClientelaBulkCurrent", """
query ClientelaBulkCurrent { currentBulkOperation(type: QUERY) { id status query } }""")

# Bulk documents take no `first`/`after`: Shopify walks every connection itself and writes
# nested nodes as lines of their own, pointing at their parent with `__parentId`.
BULK_ORDERS = f"""{{
  orders(sortKey: UPDATED_AT) {{ edges {{ node {{
    {ORDER_FIELDS}
    lineItems {{ edges {{ node {{ {LINE_FIELDS} }} }} }}
  }} }} }}
}}"""

BULK_CUSTOMERS = f"""{{
  customers(sortKey: UPDATED_AT) {{ edges {{ node {{ {CUSTOMER_FIELDS} }} }} }}
}}"""


def compact(text: str) -> str:
    """One line, single spaces: smaller requests, and bulk documents compare equal."""
    return " ".join(text.split())
