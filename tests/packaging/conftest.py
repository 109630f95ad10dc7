"""Time budget of the .deb build.

The package's virtualenv now installs edigate from source, which compiles the translators with mypyc
(setup.py, NATIVE_MODULES): about 2.5 minutes of CPU on its own (type check and C generation, then
gcc on one large C file), more than the suite-wide 300 s when the machine is busy. The budget is
raised for the tests that share the module-scoped build fixture, and only for them.
"""

from __future__ import annotations

import pytest

DEB_BUILD_TIMEOUT = 1800


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name == "test_deb.py" and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEB_BUILD_TIMEOUT))
