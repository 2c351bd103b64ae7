"""clientela: retail CRM on one canonical model.

The package is import-light on purpose: the plugin manager, the store and
the engines load on first use, so `import clientela` stays cheap for a plugin
that only needs the types.
"""

__version__ = "0.1.0"
