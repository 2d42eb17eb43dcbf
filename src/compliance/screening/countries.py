"""Country names, codes and a few demonyms, folded to ISO 3166-1 alpha-2 codes.

Lists spell countries differently ("Korea, North", "Democratic People's Republic of Korea",
"KP", "North Korean"); comparing nationalities needs one form. Unknown text is kept as is.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# code|name|other spellings...
_TABLE = """
AF|Afghanistan|afghan
AL|Albania|albanian
DZ|Algeria|algerian
AD|Andorra
AO|Angola|angolan
AG|Antigua and Barbuda
AR|Argentina|argentine|argentinian
AM|Armenia|armenian
AU|Australia|australian
AT|Austria|austrian
AZ|Azerbaijan|azerbaijani
BS|Bahamas|the bahamas
BH|Bahrain|bahraini
BD|Bangladesh|bangladeshi
BB|Barbados
BY|Belarus|belarusian|byelorussia
BE|Belgium|belgian
BZ|Belize
BJ|Benin
BT|Bhutan
BO|Bolivia|plurinational state of bolivia
BA|Bosnia and Herzegovina|bosnia herzegovina|bosnia
BW|Botswana
BR|Brazil|brazilian
BN|Brunei|brunei darussalam
BG|Bulgaria|bulgarian
BF|Burkina Faso
BI|Burundi|burundian
CV|Cabo Verde|cape verde
KH|Cambodia|cambodian
CM|Cameroon|cameroonian
CA|Canada|canadian
CF|Central African Republic|central african
TD|Chad|chadian
CL|Chile|chilean
CN|China|chinese|peoples republic of china
CO|Colombia|colombian
KM|Comoros
CG|Congo|republic of the congo|congo republic of the|congo brazzaville
CD|Democratic Republic of the Congo|congo democratic republic of the|drc|congo kinshasa|dr congo
CR|Costa Rica|costa rican
CI|Cote d'Ivoire|ivory coast
HR|Croatia|croatian
CU|Cuba|cuban
CY|Cyprus|cypriot
CZ|Czechia|czech republic|czech
DK|Denmark|danish
DJ|Djibouti
DM|Dominica
DO|Dominican Republic|dominican
EC|Ecuador|ecuadorian
EG|Egypt|egyptian
SV|El Salvador|salvadoran
GQ|Equatorial Guinea
ER|Eritrea|eritrean
EE|Estonia|estonian
SZ|Eswatini|swaziland
ET|Ethiopia|ethiopian
FJ|Fiji
FI|Finland|finnish
FR|France|french
GA|Gabon
GM|Gambia|the gambia|gambia the
GE|Georgia|georgian
DE|Germany|german
GH|Ghana|ghanaian
GR|Greece|greek
GD|Grenada
GT|Guatemala|guatemalan
GN|Guinea|guinean
GW|Guinea-Bissau|guinea bissau
GY|Guyana
HT|Haiti|haitian
VA|Holy See|vatican
HN|Honduras|honduran
HK|Hong Kong
HU|Hungary|hungarian
IS|Iceland
IN|India|indian
ID|Indonesia|indonesian
IR|Iran|iranian|islamic republic of iran|iran islamic republic of
IQ|Iraq|iraqi
IE|Ireland|irish
IL|Israel|israeli
IT|Italy|italian
JM|Jamaica|jamaican
JP|Japan|japanese
JO|Jordan|jordanian
KZ|Kazakhstan|kazakh
KE|Kenya|kenyan
KI|Kiribati
KP|North Korea|korea north|democratic peoples republic of korea|dprk|north korean
KR|South Korea|korea south|republic of korea|south korean
XK|Kosovo
KW|Kuwait|kuwaiti
KG|Kyrgyzstan|kyrgyz
LA|Laos|lao peoples democratic republic
LV|Latvia|latvian
LB|Lebanon|lebanese
LS|Lesotho
LR|Liberia|liberian
LY|Libya|libyan
LI|Liechtenstein
LT|Lithuania|lithuanian
LU|Luxembourg
MO|Macau|macao
MG|Madagascar
MW|Malawi
MY|Malaysia|malaysian
MV|Maldives
ML|Mali|malian
MT|Malta|maltese
MH|Marshall Islands
MR|Mauritania|mauritanian
MU|Mauritius
MX|Mexico|mexican
FM|Micronesia
MD|Moldova|republic of moldova
MC|Monaco
MN|Mongolia
ME|Montenegro
MA|Morocco|moroccan
MZ|Mozambique
MM|Burma|myanmar|burmese
NA|Namibia
NR|Nauru
NP|Nepal|nepalese
NL|Netherlands|dutch|the netherlands
NZ|New Zealand
NI|Nicaragua|nicaraguan
NE|Niger|nigerien
NG|Nigeria|nigerian
MK|North Macedonia|macedonia|macedonia the former yugoslav republic of
NO|Norway|norwegian
OM|Oman|omani
PK|Pakistan|pakistani
PW|Palau
PS|Palestine|palestinian|west bank|gaza|palestinian territories|state of palestine
PA|Panama|panamanian
PG|Papua New Guinea
PY|Paraguay|paraguayan
PE|Peru|peruvian
PH|Philippines|filipino|philippine
PL|Poland|polish
PT|Portugal|portuguese
QA|Qatar|qatari
RO|Romania|romanian
RU|Russia|russian|russian federation
RW|Rwanda|rwandan
KN|Saint Kitts and Nevis|st kitts and nevis
LC|Saint Lucia
VC|Saint Vincent and the Grenadines
WS|Samoa
SM|San Marino
ST|Sao Tome and Principe
SA|Saudi Arabia|saudi
SN|Senegal|senegalese
RS|Serbia|serbian
SC|Seychelles
SL|Sierra Leone
SG|Singapore|singaporean
SK|Slovakia|slovak
SI|Slovenia|slovenian
SB|Solomon Islands
SO|Somalia|somali
ZA|South Africa|south african
SS|South Sudan
ES|Spain|spanish
LK|Sri Lanka|sri lankan
SD|Sudan|sudanese
SR|Suriname
SE|Sweden|swedish
CH|Switzerland|swiss
SY|Syria|syrian|syrian arab republic
TW|Taiwan
TJ|Tajikistan|tajik
TZ|Tanzania|united republic of tanzania|tanzanian
TH|Thailand|thai
TL|Timor-Leste|east timor
TG|Togo
TO|Tonga
TT|Trinidad and Tobago
TN|Tunisia|tunisian
TR|Turkey|turkiye|turkish
TM|Turkmenistan
TV|Tuvalu
UG|Uganda|ugandan
UA|Ukraine|ukrainian
AE|United Arab Emirates|uae|emirati
GB|United Kingdom|uk|great britain|britain|british
GB|United Kingdom of Great Britain and Northern Ireland
US|United States|usa|united states of america|american|us
UY|Uruguay|uruguayan
UZ|Uzbekistan|uzbek
VU|Vanuatu
VE|Venezuela|venezuelan|bolivarian republic of venezuela
VN|Vietnam|viet nam|vietnamese
YE|Yemen|yemeni
ZM|Zambia|zambian
ZW|Zimbabwe|zimbabwean
"""


def _key(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = re.sub(r"[^a-z0-9]+", " ", folded.replace("'", ""))
    return " ".join(folded.split())


def _build() -> tuple[dict[str, str], dict[str, str]]:
    by_key: dict[str, str] = {}
    names: dict[str, str] = {}
    for line in _TABLE.strip().splitlines():
        code, name, *others = line.split("|")
        names[code] = name
        by_key[code.casefold()] = code
        for spelling in (name, *others):
            by_key[_key(spelling)] = code
    return by_key, names


_BY_KEY, _NAMES = _build()
_QUALIFIERS = re.compile(r"^(possibly|probably|reportedly|allegedly|formerly)\s+")


@lru_cache(maxsize=4096)
def country_code(text: str) -> str | None:
    """The ISO 3166-1 alpha-2 code of a country name, code or demonym; None if unknown."""
    key = _QUALIFIERS.sub("", _key(text))
    if not key:
        return None
    code = _BY_KEY.get(key)
    if code is None and key.startswith("the "):
        code = _BY_KEY.get(key[4:])
    return code


def normalise_country(text: str) -> str:
    """The ISO code when recognised, else the trimmed text (so nothing listed is lost)."""
    return country_code(text) or " ".join(text.split())


def country_name(code: str) -> str:
    return _NAMES.get(code, code)
