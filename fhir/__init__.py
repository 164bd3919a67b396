"""FHIR R4 (UK Core) read facade and referral intake (DESIGN §5.5), at the top of the import chain.

The PyPI package fhir.resources (used by the tests to validate what we serve) is also a package
named `fhir`. Extending the path lets `import fhir.resources` find it beside this app.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

# For the same reason no module of this app may be called `resources`: it would hide the package.
