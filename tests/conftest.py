"""Root pytest configuration: command-line options shared by all test folders."""


def pytest_addoption(parser):
    parser.addoption(
        "--rewrite",
        action="store_true",
        default=False,
        help="regenerate transcript test files (tests/raft/testdata) from actual output",
    )
