"""Reference data the catalog validates against: ISO 3166-1 countries and ISO 639-1 languages,
from pycountry's copy of the ISO tables (currencies are the chassis's, in chassis.money)."""

from __future__ import annotations

import pycountry

# Alpha-2 codes of the countries ISO 3166-1 assigns; user-assigned ones such as ZZ or XK
# are not countries anyone can be found in.
COUNTRIES = frozenset(country.alpha_2 for country in pycountry.countries)

# Two-letter ISO 639-1 codes: most ISO 639-3 languages have none, and those are not offered.
LANGUAGES = frozenset(
    language.alpha_2 for language in pycountry.languages if hasattr(language, "alpha_2")
)
