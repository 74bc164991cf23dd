from tests.reliability.conftest import fast_retries, sinks

__all__ = ["fast_retries", "sinks"]
