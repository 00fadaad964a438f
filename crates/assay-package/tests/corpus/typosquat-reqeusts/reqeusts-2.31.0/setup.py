# Inert test fixture for assay's package rules: it imitates a malware technique
# with reserved example hosts and TEST-NET addresses and does nothing useful when run.
from setuptools import setup

setup(name="reqeusts", version="2.31.0", packages=["reqeusts"])
