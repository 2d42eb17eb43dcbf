"""Given names and family names so common worldwide that sharing them says little.

Normalised forms (after ``normalise_name``: lower case, ASCII, variants folded). The index
adds the tokens that are frequent in the loaded lists themselves. When every token two
names share is common, a missing middle name is no longer forgiven (see scoring.py).
"""

from __future__ import annotations

from compliance.screening.normalise import VARIANTS, fold_spelling

_NAMES = """
    john james robert michael david william richard joseph thomas charles christopher
    daniel matthew anthony mark paul steven andrew peter george edward brian kevin mary
    patricia jennifer linda elizabeth barbara susan jessica sarah sara karen nancy lisa
    anna ana maria marie jose juan carlos luis antonio francisco manuel pedro jesus
    miguel javier alejandro fernando jorge ricardo rosa carmen laura isabel teresa marta
    elena sofia jean pierre michel alain philippe hans peter klaus wolfgang giuseppe
    giovanni marco ivan sergei aleksandr vladimir dmitri andrei aleksei nikolai evgeni
    mikhail olga tatiana muhammad ahmad ali hasan husayn abdullah ibrahim umar yusuf
    khalid mustafa ismail said fatima aisha khadija zainab abu bin wei li ming jun hui
    ying jing yan hong lei xin min smith johnson williams brown jones miller davis
    wilson anderson taylor moore martin jackson white harris thompson clark lewis
    robinson walker young allen king wright garcia rodriguez martinez hernandez lopez
    gonzalez perez sanchez ramirez torres flores rivera gomez diaz cruz morales reyes
    gutierrez ortiz ruiz alvarez castillo jimenez moreno romero navarro dominguez
    vazquez ramos gil serrano blanco suarez molina silva santos oliveira souza pereira
    costa rodrigues ferreira almeida carvalho muller schmidt schneider fischer weber
    meyer wagner becker schulz hoffmann rossi russo ferrari esposito bianchi romano
    colombo ricci ivanov smirnov kuznetsov popov vasiliev petrov sokolov kim lee park
    choi jung kang cho yoon jang lim wang zhang liu chen yang huang zhao wu zhou xu sun
    ma zhu hu guo lin he gao luo nguyen tran le pham hoang phan vu dang bui do ho ngo
    duong singh kumar sharma khan shah patel gupta
"""


def _tokens(text: str) -> frozenset[str]:
    return frozenset(VARIANTS.get(t, t) for t in (fold_spelling(w) for w in text.split()))


COMMON_NAME_TOKENS = _tokens(_NAMES)
