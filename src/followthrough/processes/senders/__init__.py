"""Sender accounts: the LinkedIn accounts (through Unipile) that campaigns act as."""
