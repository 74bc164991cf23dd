from tests.reliability.conftest import outage_retries

__all__ = ["outage_retries"]
