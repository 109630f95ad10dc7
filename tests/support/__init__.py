"""Test helpers that start real peers: test PKI, nginx with client certificates, the Odoo stand-in."""
