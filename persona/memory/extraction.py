"""Facts a fan states about themself, read by rules: the extractor of the embedded CPU model.

A message is normalised (contractions, emoji, curly quotes), split into sentences and clauses,
and each clause is read by the first rule in a table that fits it. Questions, hypotheticals
and clauses about the persona ("remember you are a cat", "your real name is ...") give
nothing: they are not facts about the fan, and fans can never rewrite her canon. The LLM
extractor (JSON schema, vLLM) returns the same types.

A fact's `key` is a stable subject slot ("home", "pet:mochi", "likes:linen"); `reconcile`
compares new facts and retractions with the fan's stored FAN_FACT memories by key.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Literal

from persona.memory.records import Memory, MemoryKind


@dataclass(frozen=True)
class FanFact:
    key: str  # subject slot: "name", "home", "pet:mochi", "likes:linen", "favourite:colour", ...
    text: str  # third-person statement for the prompt: "The fan lives in Busan."
    importance: float  # 0..1: name, home and job above likes
    value: str = field(default="", compare=False)  # what the rule read: "Busan"


@dataclass(frozen=True)
class Retraction:
    key: str  # the slot the fan says is no longer true


@dataclass(frozen=True)
class Decision:
    action: Literal["add", "update", "delete", "keep"]
    key: str
    fact: FanFact | None  # None for a delete
    existing_id: int | None  # the stored memory concerned; None for an add


# ---- vocabulary -------------------------------------------------------------------------

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


PETS = (r"cats?|kittens?|kitty|dogs?|pupp(?:y|ies)|bunn(?:y|ies)|rabbits?|hamsters?|guinea pigs?|parrots?|birds?"
        r"|budgies?|fish|goldfish|turtles?|tortoises?|snakes?|lizards?|geckos?|ferrets?|hedgehogs?|horses?|axolotls?")
PARTNERS = r"boyfriend|girlfriend|partner|husband|wife|fiancee?|bf|gf"
COUNT = r"(?:a|an|one|two|three|four|five|six|\d+)"
MONTHS = (r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
          r"|nov(?:ember)?|dec(?:ember)?")
OCCUPATIONS = _words(
    "nurse doctor physician surgeon teacher professor lecturer tutor engineer developer programmer designer artist "
    "illustrator animator writer author poet journalist editor translator lawyer attorney accountant banker chef cook "
    "baker barista bartender waiter waitress cashier clerk photographer musician singer dancer actor actress producer "
    "composer dj tailor seamstress dressmaker patternmaker model stylist hairdresser barber florist pharmacist dentist "
    "vet veterinarian scientist researcher manager consultant analyst architect firefighter officer soldier pilot "
    "driver farmer electrician plumber carpenter mechanic librarian secretary receptionist intern entrepreneur founder "
    "ceo coach trainer therapist psychologist counsellor counselor paramedic streamer youtuber freelancer influencer "
    "merchandiser buyer marketer technician")
DEMONYMS = _words(
    "korean japanese chinese taiwanese vietnamese thai filipino filipina indonesian malaysian singaporean indian "
    "american canadian mexican brazilian argentinian colombian peruvian british english scottish welsh irish french "
    "german italian spanish portuguese dutch belgian swiss austrian swedish norwegian danish finnish polish czech "
    "russian ukrainian turkish greek egyptian nigerian kenyan moroccan australian")
NOT_NAMES = DEMONYMS | OCCUPATIONS | _words(
    "not so just fine good great ok okay here back sorry tired happy sad bored busy home done ready sure glad also "
    "really very still always never new late free alone sick hungry excited single married engaged baby babe honey "
    "daddy mommy master king queen princess later anytime crazy maybe gay straight christian muslim catholic human "
    "real serious kidding joking lost confused scared nervous curious fan ai robot bot god the a an from in at on")
VAGUE = _words("it that this them him her those these everything nothing something anything stuff things one all "
               "there here so much lots people progress dinner lunch breakfast food money fun sure")
ACRONYMS = _words("uk us usa uae nyc la eu")
SMALL_WORDS = _words("a an and of the in on de la le van von da di or to little bit some fluent basic")

# ---- normalising and splitting ----------------------------------------------------------

REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p, re.I), r) for p, r in (
    (r"[’‘`´]", "'"),
    (r"(?<!\w)(?:[:;=]-?[()DPp/|\\]+|<3+|\^_*\^)(?!\w)", " . "),  # text emoticons end a sentence, like emoji
    (r"\b(?:i'm|im|i am)\b", "I am"),
    (r"\bi'?ve\b", "I have"),
    (r"\bi'd\b", "I would"),
    (r"\bi'll\b", "I will"),
    (r"\bi\b", "I"),
    (r"\b(?:can'?t|cannot)\b", "can not"),
    (r"\bwon'?t\b", "will not"),
    (r"\b(do|does|did|is|are|was|were|have|has|had|would|could|should)n'?t\b", r"\1 not"),
    (r"\b(name|birthday|bday|dream|goal)'s\b", r"\1 is"),
    (r"\byou (?:can|may|could) call me\b", "call me"),  # about the fan, not the persona
    (r"\byou'?re\b", "you are"), (r"\bu\b", "you"), (r"\bur\b", "your"),
    (r"\bwanna\b", "want to"), (r"\bgonna\b", "going to"),
    (r"\bfav(?:e|ou?rite)?\b", "favourite"), (r"\bb-?day\b", "birthday"),
    (r"\bI have got\b", "I have"),
))
EMOJI_CATEGORIES = frozenset({"So", "Sk", "Cs", "Co"})  # symbols (emoji), private use
JOINERS = dict.fromkeys(map(ord, "\u200d\ufe0e\ufe0f"))  # zero-width joiner, variation selectors
ASCII_SYMBOLS = {ord(ch): " . " for ch in "^`"}  # the only ASCII characters in EMOJI_CATEGORIES

SENTENCE_END = re.compile(r"([.!?;]+(?=\s|$)|\n+)")
# A clause starts after a comma or conjunction when a new subject, a question or an address follows.
CLAUSE_BREAK = re.compile(
    r"\s*(?:,|\s-+\s|\b(?:and|but|so|plus|though|because|cause|cuz)\b)\s*(?:(?:and|also|but|so|then)\s+)*"
    r"(?=(?:I|my|me|we|you|your|do|does|did|are|can|could|would|will|what|who|where|why|how|remember|please"
    r"|nice|pleased|thanks|thank)\b)", re.I)
LEAD = re.compile(r"^(?:(?:and|but|so|also|oh|ah|well|ok|okay|yeah|yes|yep|hi|hello|hey|hiya|btw|fyi|by the way|anyway"
                  r"|actually|honestly|tbh|lol|haha|um|uh|omg|wow|remember|please remember|do not forget|fun fact"
                  r"|guess what)\b(?:\s+that\b)?[\s,:!-]*)+", re.I)
QUESTION = re.compile(r"^(?:do|does|did|are|is|am|was|were|can|could|would|will|should|have|has|what|where|who|why"
                      r"|how|which|when|whose)\b", re.I)
ABOUT_PERSONA = re.compile(r"\b(?:you|your|yours|yourself)\b", re.I)
HYPOTHETICAL = re.compile(r"\b(?:if|would|could|might|wish|imagine|pretend|pretending|suppose|hypothetically|maybe"
                          r"|perhaps|should|let us say|let's say|roleplay)\b", re.I)
BOUNDARY = re.compile(r"\s+(?:because|cause|cuz|since|when|while|though|although|but|which|who|where|until|unless"
                      r"|lol|haha+|hehe+|lmao)\b.*$", re.I)
TAIL = re.compile(r"(?:\s+(?:too|as well|so much|very much|a lot|lots|now|right now|any ?more|these days|nowadays"
                  r"|at the moment|currently|today|though|tbh|honestly|actually|really|ok|okay|btw|someday|one day"
                  r"|again|already|recently|yesterday|last (?:week|month|year|weekend|night)|this (?:week|month|year)"
                  r"|(?:a (?:few )?|\d+ |two |three |some )?(?:days?|weeks?|months?|years?) ago|a while ago)"
                  r"|[\s,.:;!?'\"()~*-]+)+$", re.I)
HEADLINE = re.compile(r"^[\w' ]{1,30}?\s*(?::|\s-+)\s+(?=(?:I|my)\b)")  # "Big news: I moved ...", "Update - I work ..."
LIST_SPLIT = re.compile(r"\s*(?:,|&|/|\band\b|\bor\b|\bplus\b)\s*(?:(?:and|or)\s+)?", re.I)


def _normalise(text: str) -> str:
    if text.isascii():  # most text, and every sentence of hers the gate checks: no per-character look-up
        text = text.translate(ASCII_SYMBOLS)
    else:
        text = unicodedata.normalize("NFC", text).translate(JOINERS)
        text = "".join(" . " if unicodedata.category(ch) in EMOJI_CATEGORIES else ch for ch in text)
    for pattern, replacement in REWRITES:
        text = pattern.sub(replacement, text)
    return text


def _clauses(text: str) -> list[tuple[str, bool]]:
    """(clause, asked) pairs; `asked` marks the last clause of a sentence that ends in '?'."""
    pieces = SENTENCE_END.split(_normalise(text))
    clauses = []
    for sentence, end in zip(pieces[::2], pieces[1::2] + [""]):
        parts = [p.strip() for p in CLAUSE_BREAK.split(sentence) if p.strip()]
        clauses += [(part, "?" in end and i == len(parts) - 1) for i, part in enumerate(parts)]
    return clauses


# ---- cleaning captured values -----------------------------------------------------------

def _tidy(value: str) -> str:
    value = TAIL.sub("", BOUNDARY.sub("", value.strip()))
    for first, third in (("my", "their"), ("me", "them"), ("mine", "theirs"), ("myself", "themself")):
        value = re.sub(rf"\b{first}\b", third, value, flags=re.I)
    return " ".join(w.capitalize() if w in DEMONYMS else w for w in value.split())  # "korean food" -> "Korean food"


def keyify(text: str) -> str:
    text = re.sub(r"[^\w\s'-]", " ", text.lower()).strip()
    return " ".join(re.sub(r"^(?:(?:a|an|the|their|some|to)\s+)+", "", text).split())


def _singular(word: str) -> str:
    if word.endswith("ren"):
        return word[:-3]
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def _title(text: str) -> str:
    if text != text.lower():
        return text  # the fan chose their own capitals
    def word(w: str) -> str:
        return w.upper() if w in ACRONYMS else w if w in SMALL_WORDS or not w[0].isalpha() else w[0].upper() + w[1:]
    return " ".join(word(w) for w in text.split())


def _cut(value: str, words: str) -> str:
    return re.sub(rf"\s+(?:{words})\b.*$", "", _tidy(value), flags=re.I)


def _short(value: str, most: int) -> list[str]:
    return [value] if value and len(value.split()) <= most and keyify(value) not in VAGUE else []


def _name(value: str) -> list[str]:
    value = _cut(value, "and|btw|here|from")
    return [_title(value)] if re.fullmatch(r"[^\W\d_][\w'-]*(?: [^\W\d_][\w'-]*){0,2}", value) else []


def _given(value: str) -> list[str]:
    """A name from a weak cue ("I'm X", "call me X"): capitalised, at most two words, no common word."""
    words = value.split()
    if not 1 <= len(words) <= 2 or any(not w[0].isupper() or w.lower() in NOT_NAMES for w in words):
        return []
    return _name(value)


def _role(value: str) -> list[str]:
    return _short(re.sub(r"^an? ", "", _cut(value, "at|in|for|with|and|since|from"), flags=re.I), 4)


def _occupation(value: str) -> list[str]:
    role = _role(value)
    return role if role and role[0].split()[-1].lower() in OCCUPATIONS else []


def _topic(value: str) -> list[str]:
    value = _cut(value, "at|for|with|in order")
    return [] if re.match(r"(?:in|at|hard|a lot)\b", value, re.I) else _short(value, 6)


def _age(value: str) -> list[str]:
    return [value] if value.isdigit() and 5 <= int(value) <= 120 else []


def _date(value: str) -> list[str]:
    value = _tidy(value)
    dated = re.search(rf"\b(?:{MONTHS})\b|\b\d{{1,2}}[/.-]\d{{1,2}}\b", value, re.I)
    return [_title(value)] if dated and len(value.split()) <= 5 else []


SHAPES: dict[str, Callable[[str], list[str]]] = {
    "thing": lambda v: _short(_tidy(v), 8),
    "things": lambda v: [t for part in LIST_SPLIT.split(_tidy(v)) for t in _short(_tidy(part), 6)],
    "place": lambda v: [_title(p) for p in _short(_cut(v, "with|and|for|near|to|after|by"), 5)],
    "org": lambda v: _short(_cut(v, "in|as|and|with|since"), 5),
    "languages": lambda v: [_title(p) for p in _short(_tidy(v), 6)],
    "demonym": lambda v: [v.title()] if v.lower() in DEMONYMS else [],
    "kin": lambda v: [re.sub(r"\b(named|called) (\w)", lambda m: f"{m[1]} {m[2].upper()}", _tidy(v))],
    "name": _name, "given": _given, "role": _role, "occupation": _occupation, "topic": _topic, "age": _age,
    "date": _date, "none": lambda v: [""],
}

# ---- the rules --------------------------------------------------------------------------

ADV = (r"(?:(?:really|also|just|totally|absolutely|kinda|actually|honestly|truly|literally|definitely|do|still"
       r"|currently|now|already|so|recently|finally|officially)\s+)*")
FAN = rf"^I\s+{ADV}"  # a clause about the fan starts with "I" (adverbs allowed: "I really love")
AM = rf"am\s+{ADV}"
NEG = r"(?:am |do )?(?:no longer |not (?=.*\bany ?more\b))"  # "no longer ..." or "not ... anymore"


@dataclass(frozen=True)
class Rule:
    pattern: str  # matched case-insensitively against one clause; the value is group `v`
    key: str  # format string over the cleaned groups; a retraction may name several keys, "|"-separated
    text: str = ""  # format string; empty for a retraction
    importance: float = 0.0
    shape: str = "none"  # how `v` is cleaned (SHAPES); no value left means the rule does not fit

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.I)


RETRACTIONS: tuple[Rule, ...] = (  # tried first, on the untrimmed clause ("anymore" matters here)
    Rule(rf"{FAN}{NEG}(?:live|living|based|reside) in\b|{FAN}(?:have )?moved (?:out of|away from)\b", "home"),
    Rule(rf"{FAN}(?:quit|left|lost) my (?:job|work)\b|{FAN}(?:got|was|have been) (?:fired|laid off|let go)\b"
         rf"|{FAN}(?:retired|am retired|am unemployed|am between jobs)\b|{FAN}{NEG}work", "job|workplace"),
    Rule(rf"{FAN}{NEG}(?:an? )?(?:student|study|studying)\b|{FAN}(?:graduated|dropped out)\b", "study"),
    Rule(rf"{FAN}{NEG}(?:like|love|enjoy|into|an? (?:big |huge )?fan of) (?P<v>.+)", "likes:{k}", shape="things"),
    Rule(rf"{FAN}{NEG}(?:hate|dislike|mind) (?P<v>.+)", "dislikes:{k}", shape="things"),
    Rule(rf"\bmy (?P<kind>{PETS})(?: (?P<nm>\w+))? (?:passed away|died|passed|ran away|is gone|went missing)\b", "pet:{id}"),
    Rule(rf"{FAN}{NEG}have (?:an? |my )?(?P<kind>{PETS})\b", "pet:{id}"),  # "I don't have a cat anymore"
    Rule(r"^(?!I\b)(?P<nm>(?-i:[A-Z])\w*) (?:passed away|died|ran away)\b", "pet:{id}"),  # "Mochi died": no-op unless stored
    Rule(rf"{FAN}(?:broke up|split up|divorced|am divorced|am single|am separated)\b|^we (?:broke up|split up)\b"
         rf"|{FAN}{NEG}(?:married|engaged|dating|have an? (?:{PARTNERS}))\b", "partner"),
    Rule(rf"{FAN}{NEG}(?:want|plan|hope|intend) to\b|{FAN}gave up on my (?:dream|goal|plan)\b", "goal"),
    Rule(rf"{FAN}(?:finished|completed|abandoned|scrapped) (?:my|the|that) "
         r"(?:project|dress|design|collection|song|album|book|novel)\b", "project"),
    Rule(rf"{FAN}{NEG}an? \w+", "job"),  # "I'm not a nurse anymore"
)

NAMED = r"(?: (?:named|called) \w+)?"  # "... named Yuna"
RULES: tuple[Rule, ...] = (  # the first rule that fits a clause reads it
    # name
    Rule(r"^my (?:full |real |first )?name is (?P<v>.+)$", "name", "The fan's name is {v}.", 0.9, "name"),
    Rule(r"^(?:just |please )?call me (?P<v>.+)$", "name", "The fan goes by {v}.", 0.85, "given"),
    Rule(r"^I am (?P<v>[^\W\d_][\w'-]*(?: [^\W\d_][\w'-]*)?)$", "name", "The fan's name is {v}.", 0.9, "given"),
    # age, nationality, birthday
    Rule(rf"{FAN}(?:am (?:only |almost |nearly )?|turned )(?P<v>\d+)(?: years?(?: old)?| yrs?(?: old)?| ?y/?o)?$",
         "age", "The fan is {v} years old.", 0.7, "age"),
    Rule(r"^I am (?P<v>[a-z]+)$", "nationality", "The fan is {v}.", 0.6, "demonym"),
    Rule(r"^my birthday is (?:on )?(?:the )?(?P<v>.+)$", "birthday", "The fan's birthday is {v}.", 0.8, "date"),
    Rule(rf"{FAN}was born on (?:the )?(?P<v>.+)$", "birthday", "The fan's birthday is {v}.", 0.8, "date"),
    # favourites: "my favourite colour is teal", "teal is my fave colour"
    Rule(r"^my favourite (?P<cat>[\w-]+(?: [\w-]+)?) (?P<is>is|are) (?P<v>.+)$",
         "favourite:{cat_key}", "The fan's favourite {cat} {is} {v}.", 0.5, "thing"),
    Rule(r"^(?P<v>.+?) (?P<is>is|are) my favourite (?P<cat>[\w-]+(?: [\w-]+)?)$",
         "favourite:{cat_key}", "The fan's favourite {cat} {is} {v}.", 0.5, "thing"),
    # pets, family, partner
    Rule(rf"{FAN}(?:have|got|adopted) (?P<v>{COUNT} (?:\w+ )?(?P<kind>{PETS})(?: (?:named|called) (?P<nm>\w+))?)$",
         "pet:{id}", "The fan has {v}.", 0.7, "kin"),
    Rule(rf"\bmy (?P<kind>{PETS})(?:'s name is| is named| is called| name is) (?P<v>\w+)",
         "pet:{k}", "The fan has a {kind} named {v}.", 0.7, "name"),
    Rule(rf"\bmy (?P<kind>{PETS}) (?P<v>\w+)", "pet:{k}", "The fan has a {kind} named {v}.", 0.7, "given"),  # "my dog Bori"
    Rule(rf"{FAN}have (?P<v>{COUNT} (?:(?:older|younger|big|little|twin|baby|step|half) )?(?:sisters?|brothers?|siblings?){NAMED})$",
         "sibling", "The fan has {v}.", 0.7, "kin"),
    Rule(rf"{FAN}have (?P<v>an? (?:{PARTNERS}){NAMED})$", "partner", "The fan has {v}.", 0.75, "kin"),
    Rule(rf"{FAN}am (?P<v>married|engaged|in a relationship)\b", "partner", "The fan is {v}.", 0.75, "thing"),
    Rule(rf"{FAN}have (?P<v>{COUNT} (?:\w+ )?(?P<kind>sons?|daughters?|kids?|child|children|bab(?:y|ies)|twins){NAMED})$",
         "family:{kind_key}", "The fan has {v}.", 0.7, "kin"),
    Rule(rf"{FAN}am (?P<v>an? (?:proud |single |new )?(?:mom|mum|mother|dad|father|parent|grandma|grandpa))$",
         "family:parent", "The fan is {v}.", 0.7, "kin"),
    # dislikes before likes, so "I don't like" is never read as "I like"
    Rule(rf"{FAN}(?:hate|dislike|detest|loathe|despise|can not stand|can not bear|do not (?:like|love|enjoy)"
         rf"|{AM}not (?:an? (?:big |huge )?fan of|into)) (?P<v>.+)$", "dislikes:{k}", "The fan dislikes {v}.", 0.4, "things"),
    Rule(rf"{FAN}(?:love|like|adore|enjoy|{AM}(?:into|obsessed with|crazy about|passionate about|fond of"
         rf"|an? (?:big |huge )?fan of)) (?P<v>.+)$", "likes:{k}", "The fan likes {v}.", 0.4, "things"),
    # home
    Rule(rf"{FAN}(?:live|am living|have lived|have been living|reside|am based|am staying) in (?P<v>.+)$",
         "home", "The fan lives in {v}.", 0.8, "place"),
    Rule(rf"{FAN}(?:have )?(?:moved|relocated)(?: from .+?)? to (?P<v>.+)$", "home", "The fan lives in {v}.", 0.8, "place"),
    Rule(rf"{FAN}am (?:originally )?from (?P<v>.+)$", "home", "The fan is from {v}.", 0.75, "place"),
    # study and work
    Rule(rf"{FAN}(?:study|{AM}studying|major in|{AM}majoring in) (?P<v>.+)$", "study", "The fan studies {v}.", 0.7, "topic"),
    Rule(rf"{FAN}{AM}learning (?P<v>.+)$", "study", "The fan is learning {v}.", 0.7, "topic"),
    Rule(rf"{FAN}am (?P<v>an? (?:[\w-]+ ){{0,2}}student)(?: at .+)?$", "study", "The fan is {v}.", 0.7, "thing"),
    Rule(rf"{FAN}(?:work (?:full[- ]time |part[- ]time )?as|(?:got|found|landed) a (?:new |full[- ]time |part[- ]time )?job as"
         rf"|started (?:working|a job) as) (?P<v>.+)$", "job", "The fan works as {a} {v}.", 0.8, "role"),
    Rule(rf"{FAN}am (?P<v>an? .+)$", "job", "The fan works as {a} {v}.", 0.8, "occupation"),
    Rule(rf"{FAN}(?:work|started working|got a (?:new )?job) (?:at|for) (?P<v>.+)$", "workplace", "The fan works at {v}.", 0.7, "org"),
    # languages, projects, goals
    Rule(rf"{FAN}(?:speak|can speak|am fluent in) (?P<v>.+)$", "language", "The fan speaks {v}.", 0.6, "languages"),
    Rule(rf"{FAN}{AM}(?P<verb>making|sewing|designing|writing|knitting|crocheting|embroidering|building|painting|drawing"
         rf"|composing|recording|producing|developing|creating|working on) (?P<v>.+)$", "project", "The fan is {verb} {v}.", 0.6, "thing"),
    Rule(rf"{FAN}(?P<aux>want|hope|plan|aim|intend) to (?P<v>(?:become|be an?|open|start|launch|study|learn|move to|visit"
         rf"|travel to|work as|work at|work in|win|run|own|design|release|build) .+)$", "goal", "The fan {aux}s to {v}.", 0.65, "thing"),
    Rule(r"^my (?P<aux>dream|goal|plan|ambition) is to (?P<v>.+)$", "goal", "The fan's {aux} is to {v}.", 0.65, "thing"),
    Rule(rf"{FAN}(?:am|have been) saving (?:up )?(?:money )?for (?P<v>.+)$", "goal", "The fan is saving up for {v}.", 0.65, "thing"),
)


def _fields(match: re.Match[str], value: str) -> dict[str, str]:
    groups = {name: (text or "").lower() for name, text in match.groupdict().items()}
    kind = groups.get("kind", "")
    name = match.groupdict().get("nm") or ""
    cat = re.sub(r"\bcolor", "colour", re.sub(r"\bflavor", "flavour", groups.get("cat", "")))
    return {**groups, "v": value, "k": keyify(value), "a": "an" if value[:1].lower() in "aeiou" else "a",
            "kind_key": _singular(kind), "id": keyify(name) or _singular(kind), "cat_key": _singular(cat)}


def _readings(rule: Rule, clause: str) -> list[dict[str, str]]:
    """The template fields of each value the rule reads in the clause; [] when it does not fit."""
    match = rule.regex.search(clause)
    if not match:
        return []
    return [_fields(match, value) for value in SHAPES[rule.shape](match.groupdict().get("v") or "")]


def _read(clause: str, asked: bool) -> tuple[list[FanFact], list[Retraction]]:
    clause = HEADLINE.sub("", LEAD.sub("", clause)).strip()
    if not clause or asked or QUESTION.match(clause) or ABOUT_PERSONA.search(clause) or HYPOTHETICAL.search(clause):
        return [], []
    if clause.isupper():
        clause = clause.lower()  # shouting is not capitalisation
    for rule in RETRACTIONS:
        if readings := _readings(rule, clause):
            return [], [Retraction(key.format(**f)) for f in readings for key in rule.key.split("|")]
    clause = TAIL.sub("", BOUNDARY.sub("", clause))
    for rule in RULES:
        if readings := _readings(rule, clause):
            return [FanFact(rule.key.format(**f), rule.text.format(**f), rule.importance, f["v"]) for f in readings], []
    return [], []


OPPOSITE = {"likes": "dislikes", "dislikes": "likes"}
# Every rule reads a clause about the speaker ("I ...", "I've ...", "my ...", "call me ...", "we
# broke up") or about someone who died or ran away. Text with none of these cues states no fact,
# and is passed over without the rewrites and the rules: the sentence gate checks each of her
# sentences here. A new rule that needs another cue adds it, and its first letter to the lookahead,
# which lets the regex engine skip to the letters a cue starts with (tests/test_extraction.py checks).
FACT_CUE = re.compile(r"(?=[imwpdr])(?:\b(?:i|my|me|im|ive|mine)\b|\bwe (?:broke|split) up\b|passed away|died|ran away)", re.I)


def extract_changes(fan_text: str) -> tuple[list[FanFact], list[Retraction]]:
    """The facts a message states and the slots it retracts (a new fact of a slot beats its retraction)."""
    if not FACT_CUE.search(fan_text):
        return [], []
    facts: dict[str, FanFact] = {}
    retractions: dict[str, Retraction] = {}
    for clause, asked in _clauses(fan_text):
        new_facts, new_retractions = _read(clause, asked)
        for fact in new_facts:
            if fact.key not in facts or fact.importance >= facts[fact.key].importance:
                facts[fact.key] = fact  # "I'm from Busan but I live in Seoul": living beats origin
            slot, _, thing = fact.key.partition(":")
            if slot in OPPOSITE:  # "I hate linen now" retracts an old "likes:linen"
                retractions.setdefault(f"{OPPOSITE[slot]}:{thing}", Retraction(f"{OPPOSITE[slot]}:{thing}"))
        for retraction in new_retractions:
            retractions.setdefault(retraction.key, retraction)
    return list(facts.values()), [r for key, r in retractions.items() if key not in facts]


def extract_facts(fan_text: str) -> list[FanFact]:
    return extract_changes(fan_text)[0]


class RuleExtractor:
    """The extractor of the embedded model; `llm_extraction.JsonSchemaExtractor` has the same shape."""

    def extract(self, fan_text: str, known: list[Memory]) -> tuple[list[FanFact], list[Retraction]]:
        return extract_changes(fan_text)


# ---- reconciling with what is stored ----------------------------------------------------

def _same_text(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _retracted(key: str, stored: dict[str, Memory]) -> list[Memory]:
    if key in stored:
        return [stored[key]]
    if key.startswith("pet:"):  # "my cat passed away" retracts "pet:mochi" when Mochi is the cat
        kind = re.escape(key[4:])
        return [m for k, m in stored.items() if k.startswith("pet:") and re.search(rf"\b{kind}s?\b", m.text, re.I)]
    return []


def reconcile(facts: list[FanFact], retractions: list[Retraction], existing: list[Memory]) -> list[Decision]:
    """What to do with the fan's stored FAN_FACT memories: decisions for facts in their order, then deletes."""
    stored: dict[str, Memory] = {}
    for memory in sorted(existing, key=lambda m: m.id):
        if memory.kind is MemoryKind.FAN_FACT and memory.key:
            stored[memory.key] = memory  # the newest memory of a key is the one to update
    latest = {fact.key: fact for fact in facts}  # first position, last statement
    decisions = []
    for key, fact in latest.items():
        memory = stored.get(key)
        if memory is None:
            decisions.append(Decision("add", key, fact, None))
        else:
            decisions.append(Decision("keep" if _same_text(memory.text, fact.text) else "update", key, fact, memory.id))
    handled = set(latest)
    for retraction in retractions:
        for memory in _retracted(retraction.key, stored):
            if memory.key not in handled:
                handled.add(memory.key)
                decisions.append(Decision("delete", memory.key, None, memory.id))
    return decisions
