"""The node's and the monitor's routes, one module per resource. A module whose routes declare bounds taken from the
settings (page sizes, in the OpenAPI document) offers `router(settings)`; the others a module-level `router`."""
