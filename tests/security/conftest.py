from tests.reliability.conftest import fast_retries

__all__ = ["fast_retries"]
