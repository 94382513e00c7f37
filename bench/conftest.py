"""Print the throughput summary collected by ``workload.record`` after the run."""

from workload import summary_lines


def pytest_terminal_summary(terminalreporter):
    lines = summary_lines()
    if lines:
        terminalreporter.section("fastdyn throughput (best round)")
        for line in lines:
            terminalreporter.write_line(line)
