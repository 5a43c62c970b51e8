"""tests/load holds Locust files, not pytest tests: `test_mcp_endpoints.py` keeps the name the
product description gives it (`locust -f tests/load/test_mcp_endpoints.py`), and importing
locust patches the whole process with gevent, which the test process must never be.
tests/test_load_smoke.py runs it, in a Locust process of its own."""

collect_ignore = ["test_mcp_endpoints.py"]
