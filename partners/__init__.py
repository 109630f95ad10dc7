"""Partner profiles: schema, registry, identification, hot reload.

``partners`` is the only package that reads profile files.  It imports
``translators`` (to build :class:`translators.TranslatorOptions` and layouts)
and never ``gateway`` or ``agent``.

Typical use by the gateway::

    registry, errors = load_registry(Path("partners.d"))
    profile = registry.identify_interchange("x12", "ZZ", "ACME", "ZZ", "US")
    options = profile.translator_options(now=now, control_numbers=numbers)
    translation = translate_with_profile(profile, data, options)
"""

from __future__ import annotations

from .errors import ProfileError
from .loader import load_profile, parse_profile_text
from .permissions import private_file_problem
from .profile import DuplicatePolicy, Profile
from .registry import OnChange, Registry, load_registry
from .schema import PartnerProfile, profile_json_schema
from .translate import render_with_profile, translate_with_profile
from .watcher import RegistryWatcher

__all__ = [
    "DuplicatePolicy",
    "OnChange",
    "PartnerProfile",
    "Profile",
    "ProfileError",
    "Registry",
    "RegistryWatcher",
    "load_profile",
    "load_registry",
    "parse_profile_text",
    "private_file_problem",
    "profile_json_schema",
    "render_with_profile",
    "translate_with_profile",
]
