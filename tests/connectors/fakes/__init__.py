"""Local fakes of store-platform APIs for the connector tests; they never reach the internet."""
