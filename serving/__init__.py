"""Everything that faces users: settings, the command line, and later the ASGI app."""
