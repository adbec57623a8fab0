"""The payment provider: the port payments codes against (port.py), Stripe's format and
webhook signatures (stripe_format.py), the Stripe adapter (stripe.py), the sandbox of the
embedded mode (sandbox.py), and the choice between them by configuration (config.py)."""
