"""The payment provider: the port payments codes against (port.py) and its adapters."""
