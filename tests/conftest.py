import pytest


def pytest_sessionfinish(session, exitstatus):
    """A run in which no test passed is a failure, even when nothing failed (all skipped or deselected)."""
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    if reporter is not None and exitstatus == 0 and not reporter.stats.get('passed'):
        reporter.write_line('no test passed: failing the run', red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
