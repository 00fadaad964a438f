import re
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = re.search(r'__version__ = "(.+)"', (here / "plainpkg" / "__init__.py").read_text()).group(1)

setup(
    name="plainpkg",
    version=version,
    packages=find_packages(),
    long_description=(here / "README.md").read_text(),
    install_requires=["requests>=2"],
)
