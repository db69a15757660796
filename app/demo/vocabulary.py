"""The fixed tables the demo registry is drawn from: languages, weights, names, phrases.

Kept apart from `seed.py` so that the logic reads in one sitting and the tables can be
checked on their own. Everything here is plain data; nothing is random.
"""

from app.members.models import OrganizationType

# --- working languages ---------------------------------------------------------------------

# An organisation's working languages, most used first, by country (ISO 3166-1 alpha-3).
# Countries not listed work in English. Where a country has several languages, some
# organisations put the second one first (see `seed.py`).
WORKING_LANGUAGES: dict[str, tuple[str, ...]] = {
    # Francophone Africa
    "BEN": ("fr",),
    "BFA": ("fr",),
    "BDI": ("fr",),
    "CAF": ("fr",),
    "CIV": ("fr",),
    "COD": ("fr",),
    "COG": ("fr",),
    "GAB": ("fr",),
    "GIN": ("fr",),
    "MLI": ("fr",),
    "NER": ("fr",),
    "SEN": ("fr",),
    "TGO": ("fr",),
    "MDG": ("fr", "mg"),
    "CMR": ("fr", "en"),
    "RWA": ("en", "fr"),
    "MUS": ("en", "fr"),
    "SYC": ("en", "fr"),
    "TCD": ("fr", "ar"),
    "DJI": ("fr", "ar"),
    "COM": ("fr", "ar"),
    "MRT": ("ar", "fr"),
    # Lusophone countries
    "AGO": ("pt",),
    "BRA": ("pt",),
    "CPV": ("pt",),
    "GNB": ("pt",),
    "MOZ": ("pt",),
    "PRT": ("pt",),
    "STP": ("pt",),
    "TLS": ("pt", "en"),
    "GNQ": ("es", "fr", "pt"),
    # Rest of Africa where English is not the only working language
    "SDN": ("ar", "en"),
    "SSD": ("en", "ar"),
    "SOM": ("en", "so", "ar"),
    "ERI": ("en", "ti", "ar"),
    "ETH": ("en", "am"),
    "KEN": ("en", "sw"),
    "TZA": ("en", "sw"),
    # Latin America and the Caribbean
    "ARG": ("es",),
    "BOL": ("es",),
    "CHL": ("es",),
    "COL": ("es",),
    "CRI": ("es",),
    "CUB": ("es",),
    "DOM": ("es",),
    "ECU": ("es",),
    "GTM": ("es",),
    "HND": ("es",),
    "MEX": ("es",),
    "NIC": ("es",),
    "PAN": ("es",),
    "PER": ("es",),
    "PRY": ("es",),
    "SLV": ("es",),
    "URY": ("es",),
    "VEN": ("es",),
    "BLZ": ("en", "es"),
    "HTI": ("fr", "ht"),
    "CAN": ("en", "fr"),
    "SUR": ("nl", "en"),
    # Europe
    "ESP": ("es",),
    "AND": ("ca", "es", "fr"),
    "FRA": ("fr",),
    "MCO": ("fr",),
    "BEL": ("fr", "nl"),
    "LUX": ("fr", "de"),
    "CHE": ("fr", "de", "it"),
    # Middle East and North Africa. Iran and Israel are in the CICC's MENA region
    # but do not work in Arabic first: Persian, and Hebrew beside Arabic.
    "DZA": ("fr", "ar"),
    "MAR": ("fr", "ar"),
    "TUN": ("fr", "ar"),
    "LBN": ("ar", "fr", "en"),
    "BHR": ("ar", "en"),
    "EGY": ("ar", "en"),
    "JOR": ("ar", "en"),
    "KWT": ("ar", "en"),
    "OMN": ("ar", "en"),
    "PSE": ("ar", "en"),
    "QAT": ("ar", "en"),
    "SAU": ("ar", "en"),
    "ARE": ("ar", "en"),
    "IRQ": ("ar",),
    "LBY": ("ar",),
    "SYR": ("ar",),
    "YEM": ("ar",),
    "IRN": ("fa", "en"),
    "ISR": ("he", "ar", "en"),
    # Asia-Pacific
    "VUT": ("en", "fr"),
}
DEFAULT_WORKING_LANGUAGES: tuple[str, ...] = ("en",)

# Languages the organisation names are written in; other organisations get an English
# name (a Jordanian or Iranian member usually writes its name in English for the
# coalition), or a French one where French is among its languages.
NAME_LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "pt")


def working_languages(iso3: str) -> tuple[str, ...]:
    return WORKING_LANGUAGES.get(iso3, DEFAULT_WORKING_LANGUAGES)


# --- where members are -------------------------------------------------------------------

# Share of the membership per region: most in Africa, Europe and the Americas.
REGION_WEIGHTS: dict[str, float] = {
    "africa": 0.32,
    "americas": 0.24,
    "europe": 0.20,
    "asia-pacific": 0.16,
    "mena": 0.08,
}

# Relative size of a country's civil society within its region (default 1). A rough
# judgement from population and how active civil society is on international justice;
# 0 where there is no independent civil society to speak of.
COUNTRY_WEIGHTS: dict[str, float] = {
    # Africa
    "NGA": 8, "COD": 7, "KEN": 6, "UGA": 6, "ZAF": 5, "GHA": 4, "SEN": 4, "CIV": 4,
    "CMR": 4, "TZA": 4, "ETH": 3, "SLE": 3, "LBR": 3, "MLI": 3, "BFA": 3, "GIN": 3,
    "ZWE": 3, "ZMB": 3, "MWI": 3, "RWA": 3, "BDI": 3, "CAF": 3, "SDN": 3, "MOZ": 3,
    "BEN": 3, "SSD": 2, "AGO": 2, "TGO": 2, "NER": 2, "TCD": 2, "MDG": 2, "BWA": 2,
    "NAM": 2, "GMB": 2, "COG": 2, "GAB": 2, "SYC": 0.6, "STP": 0.6, "CPV": 0.6,
    "COM": 0.6, "MUS": 0.8, "ERI": 0.3, "GNQ": 0.4,
    # Americas
    "MEX": 6, "COL": 6, "BRA": 6, "ARG": 5, "USA": 5, "PER": 4, "CAN": 4, "GTM": 4,
    "VEN": 4, "CHL": 3, "ECU": 3, "BOL": 3, "HND": 3, "SLV": 3, "HTI": 3, "NIC": 2,
    "PRY": 2, "URY": 2, "DOM": 2, "CRI": 2, "PAN": 2, "JAM": 1.5, "ATG": 0.5,
    "BHS": 0.5, "BRB": 0.5, "DMA": 0.5, "GRD": 0.5, "KNA": 0.5, "LCA": 0.5, "VCT": 0.5,
    # Europe
    "GBR": 5, "FRA": 5, "DEU": 5, "ITA": 4, "ESP": 4, "NLD": 4, "BEL": 4, "UKR": 4,
    "RUS": 3, "POL": 3, "CHE": 3, "TUR": 3, "SWE": 2, "NOR": 2, "DNK": 2, "FIN": 2,
    "IRL": 2, "PRT": 2, "AUT": 2, "GRC": 2, "ROU": 2, "CZE": 2, "HUN": 2, "SRB": 2,
    "BIH": 2, "HRV": 2, "GEO": 2, "ARM": 2, "AZE": 1.5, "AND": 0.4, "LIE": 0.4,
    "MCO": 0.4, "SMR": 0.4, "ISL": 0.6, "MLT": 0.6, "LUX": 0.8, "TKM": 0.3,
    # Asia-Pacific
    "IND": 5, "PHL": 5, "IDN": 4, "BGD": 4, "PAK": 4, "NPL": 3, "JPN": 3, "KOR": 3,
    "AUS": 3, "AFG": 3, "MMR": 3, "THA": 3, "MYS": 3, "LKA": 3, "KHM": 3, "TLS": 2,
    "NZL": 2, "MNG": 2, "PRK": 0, "CHN": 0.5, "BRN": 0.3, "COK": 0.4, "KIR": 0.4,
    "MHL": 0.4, "FSM": 0.4, "NRU": 0.3, "PLW": 0.4, "TON": 0.5, "TUV": 0.3, "WSM": 0.5,
    # Middle East and North Africa
    "PSE": 4, "EGY": 3, "TUN": 3, "LBN": 3, "JOR": 3, "IRQ": 3, "MAR": 3, "SYR": 2,
    "YEM": 2, "LBY": 2, "DZA": 2, "ISR": 2, "IRN": 1, "BHR": 1, "KWT": 0.7, "SAU": 0.5,
    "ARE": 0.5, "QAT": 0.5, "OMN": 0.4,
}  # fmt: skip

ORGANIZATION_TYPE_WEIGHTS: dict[OrganizationType, float] = {
    OrganizationType.ngo: 0.72,
    OrganizationType.network: 0.08,
    OrganizationType.academic: 0.07,
    OrganizationType.bar_association: 0.05,
    OrganizationType.faith_based: 0.04,
    OrganizationType.media: 0.03,
    OrganizationType.other: 0.01,
}

# --- focus areas and what they are called in organisation names ------------------------

# tag -> (how often an organisation works on it, its phrase after "for"/"pour"/"por"/"para")
FOCUS_AREAS: dict[str, tuple[float, dict[str, str]]] = {
    "international-justice": (0.70, {
        "en": "International Justice", "fr": "la justice internationale",
        "es": "la Justicia Internacional", "pt": "a Justiça Internacional"}),
    "victims-rights": (0.25, {
        "en": "Victims' Rights", "fr": "les droits des victimes",
        "es": "los Derechos de las Víctimas", "pt": "os Direitos das Vítimas"}),
    "rule-of-law": (0.22, {
        "en": "the Rule of Law", "fr": "l'État de droit",
        "es": "el Estado de Derecho", "pt": "o Estado de Direito"}),
    "gender-justice": (0.20, {
        "en": "Gender Justice", "fr": "la justice de genre",
        "es": "la Justicia de Género", "pt": "a Justiça de Gênero"}),
    "peace-and-security": (0.18, {
        "en": "Peace and Security", "fr": "la paix et la sécurité",
        "es": "la Paz y la Seguridad", "pt": "a Paz e a Segurança"}),
    "transitional-justice": (0.15, {
        "en": "Transitional Justice", "fr": "la justice transitionnelle",
        "es": "la Justicia Transicional", "pt": "a Justiça de Transição"}),
    "human-rights-defenders": (0.15, {
        "en": "Human Rights Defenders", "fr": "les défenseurs des droits humains",
        "es": "las Personas Defensoras de Derechos Humanos",
        "pt": "os Defensores de Direitos Humanos"}),
    "childrens-rights": (0.12, {
        "en": "Children's Rights", "fr": "les droits de l'enfant",
        "es": "los Derechos de la Niñez", "pt": "os Direitos da Criança"}),
    "humanitarian-law": (0.08, {
        "en": "International Humanitarian Law", "fr": "le droit international humanitaire",
        "es": "el Derecho Internacional Humanitario",
        "pt": "o Direito Internacional Humanitário"}),
    "legal-aid": (0.08, {
        "en": "Access to Justice", "fr": "l'accès à la justice",
        "es": "el Acceso a la Justicia", "pt": "o Acesso à Justiça"}),
    "media-freedom": (0.07, {
        "en": "Media Freedom", "fr": "la liberté de la presse",
        "es": "la Libertad de Prensa", "pt": "a Liberdade de Imprensa"}),
    "indigenous-rights": (0.06, {
        "en": "Indigenous Peoples' Rights", "fr": "les droits des peuples autochtones",
        "es": "los Derechos de los Pueblos Indígenas",
        "pt": "os Direitos dos Povos Indígenas"}),
    "torture-prevention": (0.06, {
        "en": "the Prevention of Torture", "fr": "la prévention de la torture",
        "es": "la Prevención de la Tortura", "pt": "a Prevenção da Tortura"}),
    "death-penalty": (0.05, {
        "en": "the Abolition of the Death Penalty", "fr": "l'abolition de la peine de mort",
        "es": "la Abolición de la Pena de Muerte", "pt": "a Abolição da Pena de Morte"}),
    "enforced-disappearances": (0.05, {
        "en": "the Families of the Disappeared", "fr": "les familles de disparus",
        "es": "los Familiares de Personas Desaparecidas",
        "pt": "os Familiares de Desaparecidos"}),
}  # fmt: skip

# Purposes that fit any organisation, beside the one of its focus areas.
GENERAL_PURPOSES: tuple[dict[str, str], ...] = (
    {"en": "Human Rights", "fr": "les droits humains",
     "es": "los Derechos Humanos", "pt": "os Direitos Humanos"},
    {"en": "Democracy and Human Rights", "fr": "la démocratie et les droits de l'homme",
     "es": "la Democracia y los Derechos Humanos", "pt": "a Democracia e os Direitos Humanos"},
    {"en": "Justice and Peace", "fr": "la justice et la paix",
     "es": "la Justicia y la Paz", "pt": "a Justiça e a Paz"},
    {"en": "Accountability", "fr": "la lutte contre l'impunité",
     "es": "la Lucha contra la Impunidad", "pt": "o Combate à Impunidade"},
)  # fmt: skip

# --- organisation names ------------------------------------------------------------------

# Kinds of organisation, with grammatical gender where adjectives agree.
NGO_KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": tuple((kind, "") for kind in (
        "Centre", "Initiative", "Foundation", "Association", "Forum", "Society", "Institute",
        "Project", "Trust", "Movement", "Campaign", "Council", "Committee", "Action Group")),
    "fr": (("Association", "f"), ("Ligue", "f"), ("Centre", "m"), ("Observatoire", "m"),
           ("Collectif", "m"), ("Fondation", "f"), ("Mouvement", "m"), ("Forum", "m"),
           ("Institut", "m"), ("Action", "f"), ("Comité", "m")),
    "es": (("Asociación", "f"), ("Centro", "m"), ("Fundación", "f"), ("Colectivo", "m"),
           ("Comisión", "f"), ("Coordinadora", "f"), ("Movimiento", "m"), ("Instituto", "m"),
           ("Observatorio", "m"), ("Corporación", "f"), ("Comité", "m")),
    "pt": (("Associação", "f"), ("Centro", "m"), ("Fundação", "f"), ("Coletivo", "m"),
           ("Comissão", "f"), ("Movimento", "m"), ("Instituto", "m"), ("Observatório", "m"),
           ("Liga", "f"), ("Fórum", "m")),
}  # fmt: skip
NETWORK_KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("Network", ""), ("Coalition", ""), ("Alliance", ""), ("Platform", "")),
    "fr": (("Réseau", "m"), ("Coalition", "f"), ("Alliance", "f"), ("Plateforme", "f")),
    "es": (("Red", "f"), ("Coalición", "f"), ("Alianza", "f"), ("Plataforma", "f")),
    "pt": (("Rede", "f"), ("Coligação", "f"), ("Aliança", "f"), ("Plataforma", "f")),
}
# Words that go with a kind: (masculine, feminine); English has one form.
QUALIFIERS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("National", "National"), ("Women's", "Women's"), ("Youth", "Youth"),
           ("Citizens'", "Citizens'"), ("Community", "Community"),
           ("Independent", "Independent"), ("Civil Society", "Civil Society")),
    "fr": (("national", "nationale"), ("citoyen", "citoyenne"), ("des femmes", "des femmes"),
           ("des jeunes", "des jeunes"), ("indépendant", "indépendante")),
    "es": (("Nacional", "Nacional"), ("Ciudadano", "Ciudadana"), ("de Mujeres", "de Mujeres"),
           ("de Jóvenes", "de Jóvenes"), ("Independiente", "Independiente")),
    "pt": (("Nacional", "Nacional"), ("Cidadão", "Cidadã"), ("de Mulheres", "de Mulheres"),
           ("de Jovens", "de Jovens"), ("Independente", "Independente")),
}  # fmt: skip
# The word joining a kind to its purpose.
PURPOSE_LINKS: dict[str, tuple[str, ...]] = {
    "en": ("for",),
    "fr": ("pour",),
    "es": ("por", "para"),
    "pt": ("para",),
}

# Whole names for the types whose names follow their own patterns. `{country}` is the
# country's short name in that language.
NATIONAL_COALITION_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("{country} Coalition for the International Criminal Court",
           "National Coalition for the International Criminal Court",
           "{country} Coalition for the ICC"),
    "fr": ("Coalition nationale pour la Cour pénale internationale",
           "Coalition nationale pour la CPI"),
    "es": ("Coalición Nacional por la Corte Penal Internacional",
           "Coalición por la Corte Penal Internacional"),
    "pt": ("Coligação Nacional para o Tribunal Penal Internacional",),
}  # fmt: skip
TYPE_NAMES: dict[OrganizationType, dict[str, tuple[str, ...]]] = {
    OrganizationType.bar_association: {
        "en": ("{country} Bar Association", "Law Society of {country}",
               "{country} Women Lawyers' Association", "Young Lawyers' Association of {country}",
               "Lawyers for Justice in {country}", "Lawyers for Human Rights",
               "Association of Human Rights Lawyers"),
        "fr": ("Association des femmes juristes", "Association des jeunes avocats",
               "Ligue des juristes pour les droits humains", "Avocats sans frontières",
               "Association des avocats pour la défense des droits humains",
               "Collectif des avocats pour la justice internationale"),
        "es": ("Colegio de Abogados de {country}", "Asociación de Abogadas",
               "Abogados por la Justicia", "Colectivo de Abogados por los Derechos Humanos",
               "Asociación de Juristas Demócratas"),
        "pt": ("Associação de Juristas", "Associação de Mulheres Juristas",
               "Advogados pela Justiça", "Coletivo de Advogados pelos Direitos Humanos"),
    },
    OrganizationType.academic: {
        "en": ("Centre for International Criminal Justice Studies",
               "International Criminal Law Clinic, University of {country}",
               "Institute for Human Rights and International Law",
               "{country} Institute of International Law", "Human Rights Law Centre",
               "Faculty of Law, University of {country}"),
        "fr": ("Centre d'études et de recherche en droit international",
               "Clinique de droit international pénal", "Institut des droits de l'homme",
               "Centre de recherche sur la justice transitionnelle",
               "Chaire UNESCO des droits de l'homme et de la paix"),
        "es": ("Instituto de Derechos Humanos", "Clínica Jurídica de Derechos Humanos",
               "Centro de Estudios de Derecho, Justicia y Sociedad",
               "Observatorio de Justicia Transicional",
               "Facultad de Derecho, Universidad Nacional"),
        "pt": ("Centro de Estudos de Direito Internacional", "Clínica de Direitos Humanos",
               "Instituto de Direitos Humanos", "Núcleo de Estudos sobre Justiça de Transição"),
    },
    OrganizationType.faith_based: {
        "en": ("Catholic Commission for Justice and Peace", "{country} Council of Churches",
               "Interfaith Council for Peace", "Muslim Council for Human Rights",
               "Christian Action for Justice and Peace", "Quaker Peace and Justice Committee"),
        "fr": ("Commission Justice et Paix", "Conseil interreligieux pour la paix",
               "Action des chrétiens pour l'abolition de la torture",
               "Commission diocésaine Justice et Paix"),
        "es": ("Comisión Intereclesial de Justicia y Paz", "Pastoral Social",
               "Consejo Interreligioso por la Paz", "Servicio Paz y Justicia"),
        "pt": ("Comissão Justiça e Paz", "Conselho Inter-religioso para a Paz",
               "Pastoral Carcerária"),
    },
    OrganizationType.media: {
        "en": ("Journalists for Justice", "{country} Media Institute",
               "Centre for Investigative Journalism", "Community Radio Network",
               "Press Freedom Foundation"),
        "fr": ("Journalistes pour les droits humains", "Observatoire de la liberté de la presse",
               "Réseau des radios communautaires", "Maison de la presse"),
        "es": ("Periodistas por la Justicia", "Fundación para la Libertad de Prensa",
               "Red de Radios Comunitarias", "Centro de Periodismo Investigativo"),
        "pt": ("Jornalistas pela Justiça", "Instituto de Imprensa",
               "Rede de Rádios Comunitárias", "Observatório da Liberdade de Imprensa"),
    },
}  # fmt: skip

# Country names as organisation names use them, where the CLDR short name will not do.
COUNTRY_NAME_OVERRIDES: dict[str, dict[str, str]] = {
    "en": {"CD": "DR Congo", "CG": "Congo", "PS": "Palestine", "MM": "Myanmar",
           "ST": "São Tomé and Príncipe"},
    "fr": {"CD": "RD Congo", "CG": "Congo", "PS": "Palestine", "MM": "Myanmar"},
    "es": {"PS": "Palestina", "MM": "Myanmar"},
    "pt": {"CD": "República Democrática do Congo", "PS": "Palestina", "MM": "Mianmar"},
}  # fmt: skip
# English names that take "the" after "in" ("in the Philippines").
ENGLISH_THE: frozenset[str] = frozenset(
    {"GBR", "USA", "NLD", "PHL", "GMB", "BHS", "CAF", "DOM", "ARE", "MHL", "SLB", "COM", "MDV"}
)

# Words left out of acronyms.
ACRONYM_STOPWORDS: frozenset[str] = frozenset(
    {
        # English
        "a", "an", "and", "the", "of", "for", "in", "on", "at", "to", "by", "with",
        "against", "about",
        # French
        "pour", "par", "de", "du", "des", "la", "le", "les", "l", "d", "et", "en", "au",
        "aux", "sur", "contre",
        # Spanish
        "por", "para", "el", "los", "las", "y", "del", "al", "con",
        # Portuguese
        "o", "os", "as", "da", "do", "das", "dos", "e", "em", "pelo", "pela", "pelos",
        "pelas", "à",
    }
)  # fmt: skip

# --- notes and consent ---------------------------------------------------------------------

CONSENT_METHODS: tuple[tuple[str, float], ...] = (
    ("membership form", 0.45),
    ("online membership form", 0.2),
    ("ASP side-event sign-up", 0.12),
    ("regional consultation registration", 0.1),
    ("email opt-in confirmation", 0.08),
    ("Review Conference sign-up (Kampala 2010)", 0.05),
)

NOTES: tuple[str, ...] = (
    "Member of the national coalition's steering committee.",
    "Contact details confirmed at the Assembly of States Parties.",
    "Prefers to receive alerts through the national coalition focal point.",
    "Hosted a regional consultation on APIC ratification.",
    "Works with victims' groups on reparations; ask before sharing names.",
    "Website often offline; reach the focal point by phone.",
)

# --- people's names --------------------------------------------------------------------------

# How contacts in a country are named: a Faker locale, or "@list" for one of the
# romanised lists below (Faker has no Latin-script names for these). A tuple means one
# of them at random (mixed populations); a dict picks by the contact's language.
PERSON_NAME_STYLES: dict[str, str | tuple[str, ...] | dict[str, str]] = {
    # Africa
    "NGA": ("en_NG", "yo_NG", "ig_NG", "ha_NG"), "GHA": "tw_GH",
    "KEN": "en_KE", "UGA": "en_KE", "TZA": "en_KE", "SSD": "en_KE",
    "ZAF": ("zu_ZA", "zu_ZA", "en_GB"), "BWA": "zu_ZA", "LSO": "zu_ZA", "SWZ": "zu_ZA",
    "ZWE": "zu_ZA", "ZMB": "zu_ZA", "MWI": "zu_ZA", "NAM": "zu_ZA",
    "LBR": ("en_US", "en_NG"), "SLE": ("en_GB", "en_NG"),
    "SEN": "@west_africa", "MLI": "@west_africa", "BFA": "@west_africa",
    "GIN": "@west_africa", "NER": "@west_africa", "CIV": "@west_africa",
    "BEN": "@west_africa", "TGO": "@west_africa", "GMB": "@west_africa",
    "CMR": "@central_africa", "GAB": "@central_africa", "COG": "@central_africa",
    "COD": "@central_africa", "CAF": "@central_africa", "RWA": "@central_africa",
    "BDI": "@central_africa", "TCD": ("@central_africa", "@arabic"),
    "MDG": "@malagasy", "ETH": "@horn", "ERI": "@horn",
    "SOM": "@arabic", "SDN": "@arabic", "DJI": "@arabic", "COM": "@arabic",
    "MRT": "@arabic", "AGO": "pt_PT", "MOZ": "pt_PT", "CPV": "pt_PT", "GNB": "pt_PT",
    "STP": "pt_PT", "GNQ": "es_ES", "MUS": ("fr_FR", "en_IN"), "SYC": ("fr_FR", "en_GB"),
    # Americas
    "USA": "en_US", "CAN": {"en": "en_CA", "fr": "fr_CA"}, "MEX": "es_MX",
    "ARG": "es_AR", "CHL": "es_CL", "COL": "es_CO", "VEN": "es_VE", "PER": "es_CO",
    "ECU": "es_CO", "BOL": "es_CO", "PRY": "es_AR", "URY": "es_AR", "CRI": "es_MX",
    "PAN": "es_MX", "GTM": "es_MX", "HND": "es_MX", "SLV": "es_MX", "NIC": "es_MX",
    "CUB": "es_ES", "DOM": "es_ES", "BRA": "pt_BR", "HTI": "fr_FR", "SUR": "nl_NL",
    # Europe
    "GBR": "en_GB", "IRL": "en_IE", "FRA": "fr_FR", "MCO": "fr_FR", "DEU": "de_DE",
    "AUT": "de_AT", "LIE": "de_LI", "ITA": "it_IT", "SMR": "it_IT", "MLT": "it_IT",
    "ESP": "es_ES", "AND": "es_ES", "PRT": "pt_PT", "NLD": "nl_NL", "POL": "pl_PL",
    "CZE": "cs_CZ", "SVK": "sk_SK", "HUN": "hu_HU", "ROU": "ro_RO", "MDA": "ro_RO",
    "HRV": "hr_HR", "SVN": "sl_SI", "BIH": "hr_HR", "SRB": "hr_HR", "MNE": "hr_HR",
    "MKD": "mk_MK", "ALB": "@albanian", "BGR": "bg_BG", "GRC": "el_GR", "CYP": "el_GR",
    "DNK": "da_DK", "SWE": "sv_SE", "NOR": "no_NO", "FIN": "fi_FI", "ISL": "is_IS",
    "EST": "et_EE", "LVA": "lv_LV", "LTU": "lt_LT", "RUS": "ru_RU", "BLR": "ru_RU",
    "UKR": "uk_UA", "GEO": "ka_GE", "ARM": "hy_AM", "AZE": "az_AZ",
    "KAZ": ("uz_UZ", "ru_RU"), "KGZ": ("uz_UZ", "ru_RU"), "TJK": "uz_UZ",
    "TKM": "uz_UZ", "UZB": "uz_UZ", "TUR": "tr_TR",
    "BEL": {"fr": "fr_BE", "nl": "nl_BE"}, "LUX": {"fr": "fr_FR", "de": "de_LU"},
    "CHE": {"fr": "fr_CH", "de": "de_CH", "it": "it_CH"},
    # Asia-Pacific
    "IND": "en_IN", "NPL": "en_IN", "BGD": "en_IN", "LKA": "en_IN", "BTN": "en_IN",
    "PAK": "en_PK", "AFG": "en_PK", "MDV": "en_PK", "IDN": "id_ID", "MYS": "id_ID",
    "BRN": "id_ID", "PHL": "@philippine", "THA": "en_TH", "LAO": "en_TH",
    "VNM": "vi_VN", "KHM": "@khmer", "MMR": "@burmese", "JPN": "ja_JP", "CHN": "zh_CN",
    "KOR": "ko_KR", "PRK": "ko_KR", "MNG": "@mongolian", "SGP": ("zh_CN", "id_ID", "en_IN"),
    "AUS": "en_AU", "NZL": "en_NZ", "PNG": "en_AU", "FJI": ("en_NZ", "en_IN"),
    "TLS": "pt_PT",
    # Middle East and North Africa
    "DZA": "fr_DZ", "MAR": "fr_DZ", "TUN": "fr_DZ", "IRN": "@persian",
    "ISR": ("@hebrew", "@hebrew", "@arabic"),
}  # fmt: skip
REGION_PERSON_NAME_STYLES: dict[str, str] = {
    "africa": "en_KE",
    "americas": "es_MX",
    "europe": "en_GB",
    "asia-pacific": "en_NZ",
    "mena": "@arabic",
}
# Locales whose names are written family name first.
FAMILY_NAME_FIRST: frozenset[str] = frozenset({"zh_CN", "ko_KR", "vi_VN", "@khmer"})
# Locales in a non-Latin script: their names are transliterated.
TRANSLITERATED: frozenset[str] = frozenset(
    {"ru_RU", "uk_UA", "bg_BG", "mk_MK", "el_GR", "ka_GE", "hy_AM", "ko_KR"}
)
# Locales that have romanised-name providers.
ROMANIZED: frozenset[str] = frozenset({"ja_JP", "zh_CN"})

# Romanised names: female given names, male given names, family names. Where the
# family-name list is empty (Burmese), names are two given names.
NAME_LISTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "@arabic": (
        ("Fatima", "Amina", "Layla", "Rania", "Nour", "Huda", "Mariam", "Samira", "Yasmin",
         "Hanan", "Salma", "Dalia", "Reem", "Aisha", "Lina", "Nadia", "Zeinab", "Maha",
         "Rasha", "Hind", "Iman", "Souad", "Khadija", "Asma"),
        ("Ahmed", "Mohamed", "Omar", "Khaled", "Youssef", "Hassan", "Ali", "Karim", "Tarek",
         "Mahmoud", "Ibrahim", "Hussein", "Samir", "Walid", "Nabil", "Fadi", "Bassem",
         "Ziad", "Mustafa", "Adel", "Hisham", "Rami", "Amr", "Abdullah"),
        ("Haddad", "Khoury", "Mansour", "Saleh", "Nasser", "Hamdan", "Abdelrahman",
         "El-Masri", "Farouk", "Qasim", "Jaber", "Darwish", "Suleiman", "Barakat",
         "Hijazi", "Awad", "Khalil", "Shalaby", "Al-Hashimi", "Othman", "Yassin",
         "Zaki", "Aziz", "Naser", "Taha", "Bakr", "Rashid", "Sabbagh", "Habib", "Issa"),
    ),
    "@persian": (
        ("Maryam", "Shirin", "Narges", "Parisa", "Leila", "Nasrin", "Zahra", "Fereshteh",
         "Azadeh", "Mahsa", "Roya", "Shadi"),
        ("Reza", "Mehdi", "Ali", "Hossein", "Mohammad", "Saeed", "Amir", "Hamid", "Kaveh",
         "Dariush", "Babak", "Omid"),
        ("Ahmadi", "Hosseini", "Mohammadi", "Rezaei", "Karimi", "Moradi", "Jafari",
         "Sadeghi", "Rahimi", "Tehrani", "Ebadi", "Sotoudeh", "Kazemi", "Bahrami"),
    ),
    "@hebrew": (
        ("Noa", "Yael", "Tamar", "Maya", "Michal", "Shira", "Ruth", "Hagar", "Orly",
         "Dana", "Sarit", "Talia"),
        ("Avi", "Daniel", "Yossi", "Uri", "Eitan", "Amir", "Noam", "Gideon", "Ronen",
         "Michael", "David", "Itai"),
        ("Cohen", "Levi", "Mizrahi", "Peretz", "Friedman", "Shapiro", "Katz", "Ben-David",
         "Biton", "Avraham", "Goldberg", "Rosen", "Dahan", "Sharon"),
    ),
    "@west_africa": (
        ("Aminata", "Fatou", "Mariam", "Awa", "Aïssatou", "Khady", "Ramatoulaye", "Adama",
         "Oumou", "Kadiatou", "Bintou", "Salimata", "Marie", "Joséphine", "Rokia",
         "Nafissatou", "Ndèye", "Fanta", "Hawa", "Akissi"),
        ("Mamadou", "Ibrahima", "Moussa", "Ousmane", "Cheikh", "Abdoulaye", "Boubacar",
         "Seydou", "Souleymane", "Modou", "Alioune", "Lamine", "Issa", "Jean", "Koffi",
         "Kwame", "Yao", "Salif", "Amadou", "Bakary"),
        ("Diallo", "Ndiaye", "Diop", "Sow", "Fall", "Ba", "Traoré", "Coulibaly", "Konaté",
         "Keïta", "Ouédraogo", "Sawadogo", "Kaboré", "Zongo", "Camara", "Touré", "Cissé",
         "Koné", "Bamba", "Kouassi", "Kouamé", "Agbodjan", "Houngbédji", "Adjovi",
         "Mahamadou", "Sidibé", "Sylla", "Barry", "Bah", "Condé", "Sangaré", "Dembélé",
         "Diarra", "Jallow", "Ceesay", "Touray", "Gbagbo", "Yeo", "Akakpo", "Hounkpatin"),
    ),
    "@central_africa": (
        ("Christelle", "Josiane", "Espérance", "Chantal", "Nadège", "Prisca", "Grâce",
         "Béatrice", "Clarisse", "Sylvie", "Marie-Claire", "Solange", "Immaculée",
         "Aline", "Francine", "Odette"),
        ("Jean-Pierre", "Patrick", "Dieudonné", "Fidèle", "Arsène", "Serge", "Innocent",
         "Olivier", "Didier", "Hervé", "Emmanuel", "Joseph", "Alain", "Gaston",
         "Léonard", "Théophile"),
        ("Mukendi", "Kabongo", "Ilunga", "Kasongo", "Tshibanda", "Mbuyi", "Kalala", "Ngoy",
         "Lumbala", "Mulumba", "Mbarga", "Nkoulou", "Owona", "Essomba", "Ndongo", "Fouda",
         "Moukoko", "Ngoma", "Makaya", "Mabiala", "Ndayishimiye", "Niyonzima",
         "Hakizimana", "Bizimana", "Uwimana", "Mukamana", "Habimana", "Nsengiyumva",
         "Ngaba", "Doumbé", "Mbemba", "Kamanda"),
    ),
    "@malagasy": (
        ("Hanitra", "Voahangy", "Lalao", "Fanja", "Haingo", "Miora", "Nirina", "Tiana"),
        ("Hery", "Rivo", "Andry", "Mamy", "Toky", "Fidy", "Njaka", "Tojo"),
        ("Rakoto", "Rasoanaivo", "Randrianarisoa", "Razafindrakoto", "Andriamanana",
         "Rabemananjara", "Ravelojaona", "Rakotomalala", "Ramanantsoa", "Rasolofo"),
    ),
    "@horn": (
        ("Almaz", "Tigist", "Meron", "Selam", "Hana", "Senait", "Saba", "Helen", "Bethlehem",
         "Mekdes", "Rahel", "Yordanos"),
        ("Abebe", "Dawit", "Yonas", "Tesfaye", "Mulugeta", "Kidane", "Berhane", "Yohannes",
         "Girma", "Solomon", "Biniam", "Amanuel"),
        ("Abebe", "Tesfaye", "Mulugeta", "Kidane", "Berhane", "Haile", "Gebremedhin",
         "Tadesse", "Alemu", "Bekele", "Wolde", "Asfaw", "Desta", "Mengistu"),
    ),
    "@khmer": (
        ("Sophea", "Bopha", "Srey", "Chanthou", "Sokha", "Channary", "Rathana", "Vanna"),
        ("Dara", "Sokhom", "Vuthy", "Rithy", "Kosal", "Samnang", "Visal", "Chenda"),
        ("Chea", "Heng", "Keo", "Lim", "Meas", "Nhem", "Prak", "Sok", "Touch", "Yim",
         "Chhim", "Seng"),
    ),
    "@burmese": (
        ("Thandar", "Ei Ei", "Phyu Phyu", "Nilar", "Su Myat", "Khin", "May", "Thida",
         "Hnin", "Yadanar"),
        ("Aung", "Kyaw", "Htet", "Min", "Thiha", "Zaw", "Naing", "Myint", "Ko Ko", "Tun"),
        (),
    ),
    "@mongolian": (
        ("Oyunchimeg", "Tsetseg", "Sarangerel", "Enkhjargal", "Altantsetseg", "Bolormaa"),
        ("Bat-Erdene", "Enkhbayar", "Ganbold", "Munkhbat", "Altangerel", "Tserendorj"),
        ("Batbayar", "Dorj", "Ganbaatar", "Sukhbaatar", "Purev", "Tumur", "Baatar"),
    ),
    "@albanian": (
        ("Elira", "Mirela", "Drita", "Gentiana", "Blerina", "Arta", "Vjosa", "Albana"),
        ("Arben", "Besnik", "Ilir", "Fatmir", "Artan", "Gëzim", "Erion", "Dritan"),
        ("Hoxha", "Shehu", "Dervishi", "Krasniqi", "Gashi", "Berisha", "Leka", "Marku",
         "Kola", "Basha"),
    ),
    "@philippine": (
        ("Maria", "Ana", "Liza", "Cristina", "Rowena", "Marites", "Jocelyn", "Grace", "Joy",
         "Marilou"),
        ("Jose", "Juan", "Ramon", "Rodrigo", "Antonio", "Eduardo", "Mark", "Rey", "Noel",
         "Arnel"),
        ("Santos", "Reyes", "Cruz", "Bautista", "Garcia", "Mendoza", "Torres", "Dela Cruz",
         "Aquino", "Villanueva", "Ramos", "Castillo", "Fernandez", "Lim", "Tan", "Gonzales"),
    ),
}  # fmt: skip
