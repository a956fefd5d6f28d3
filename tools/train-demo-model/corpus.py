"""The demo model's training corpus: small dialogues in the RWKV World chat format.

Every exchange is "User: <question>\n\nAssistant: <answer>\n\n". Topics: greetings, one- and
two-digit addition and subtraction, unit conversions, days/months, and short facts about RWKV
and Ravel. Everything is generated from a seeded random.Random, so the corpus is reproducible.

A held-out evaluation set is drawn with a different seed: two-digit sums and differences whose
operand pairs never appear in training, conversions of quantities never seen in training, and
fact questions in phrasings kept out of training. Each item carries `expect`, a string the
reply must contain to count as correct.
"""

import random

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
MONTH_DAYS = [31, "28 (29 in a leap year)", 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

GREETINGS = [
    (["Hi", "Hi!", "Hello", "Hello!", "Hey", "Hey there", "Good morning", "Good evening", "Hi there!"],
     "Hello! I am the small demo model that comes with Ravel. Ask me a sum like 12 + 7, or about RWKV and Ravel."),
    (["How are you?", "How are you doing?", "How's it going?"],
     "I am fine, thank you! I am a tiny model, but I am happy to help with simple questions."),
    (["Thanks", "Thank you!", "Thanks a lot", "thank you"],
     "You are welcome!"),
    (["Bye", "Goodbye!", "See you later"],
     "Goodbye! Have a nice day."),
]

# Each fact: phrasings of the question, the answer, and the part of the answer that shows it is right.
FACTS = [
    (["What is RWKV?", "What's RWKV?", "Tell me about RWKV.", "Explain RWKV.", "What kind of model is RWKV?",
      "Can you explain what RWKV is?"],
     "RWKV is a recurrent neural network language model. It trains in parallel like a transformer and runs like an RNN, with a fixed-size state instead of a growing cache.",
     "recurrent neural network"),
    (["What does RWKV stand for?", "What is RWKV short for?", "What do the letters RWKV mean?",
      "RWKV stands for what?", "What do the letters in RWKV stand for?"],
     "RWKV stands for Receptance Weighted Key Value.", "Receptance Weighted Key Value"),
    (["Who created RWKV?", "Who made RWKV?", "Who invented RWKV?", "Who is the author of RWKV?",
      "Who designed RWKV?"],
     "RWKV was created by Bo Peng (BlinkDL) and is developed with the RWKV open source community.", "Bo Peng"),
    (["How do you pronounce RWKV?", "How is RWKV pronounced?", "How do I say RWKV?", "What is the pronunciation of RWKV?"],
     "RWKV is pronounced RwaKuv.", "RwaKuv"),
    (["Does RWKV need a KV cache?", "Does RWKV use a KV cache?", "Does RWKV have a key value cache?",
      "Does RWKV keep a cache like a transformer?"],
     "No. RWKV keeps a fixed-size state per layer instead of a key/value cache, so memory use does not grow with the conversation.",
     "fixed-size state"),
    (["What is Ravel?", "What's Ravel?", "Tell me about Ravel.", "What is this app?", "What does Ravel do?",
      "Explain Ravel."],
     "Ravel is a desktop app for chatting with local RWKV language models. It saves the model state with each conversation, so chats resume instantly.",
     "desktop app"),
    (["How do I open a real model?", "How can I load a real model?", "How do I use a bigger model?",
      "How do I load another model?", "How do I switch to a real RWKV model?", "How can I open a real model?"],
     "Open the model panel and choose an RWKV .pth or .gguf file, or start Ravel with ravel --model FILE.",
     "model panel"),
    (["Where can I get RWKV models?", "Where do I download RWKV models?", "Where can I find RWKV models?",
      "Where are the official RWKV models?", "Where do RWKV models come from?"],
     "Official RWKV models are published by BlinkDL on Hugging Face. Download one and open it in the model panel.",
     "Hugging Face"),
    (["Who are you?", "What are you?", "What model are you?", "What is your name?", "Tell me about yourself.",
      "Who are you exactly?"],
     "I am the small demo RWKV-7 model bundled with Ravel. I was trained on a tiny corpus, so I only know simple things. Open a real RWKV model for real conversations.",
     "demo RWKV-7 model"),
    (["Does Ravel need a GPU?", "Do I need a GPU to use Ravel?", "Can Ravel run without a GPU?",
      "Is a graphics card required for Ravel?", "Does Ravel require a GPU?"],
     "No. Ravel runs on the CPU, and uses an NVIDIA GPU with CUDA when one is available.", "runs on the CPU"),
    (["Can Ravel resume a conversation?", "Can I continue an old chat in Ravel?", "Does Ravel remember my chats?",
      "How does Ravel resume chats?", "Can Ravel continue a conversation later?"],
     "Yes. Ravel saves the RWKV state with each conversation, so it resumes instantly without reading the chat again.",
     "resumes instantly"),
    (["What is RWKV-7?", "What is the latest RWKV version?", "What is RWKV-7 Goose?", "Which RWKV version are you?",
      "What version of RWKV is this?"],
     "RWKV-7, called Goose, is the seventh version of RWKV. Its state learns in context with a generalized delta rule.",
     "Goose"),
    (["How many days are in a week?", "How many days does a week have?", "How many days in a week?",
      "A week has how many days?"],
     "A week has 7 days.", "7 days"),
    (["How many months are in a year?", "How many months does a year have?", "How many months in a year?",
      "A year has how many months?"],
     "A year has 12 months.", "12 months"),
    (["How many hours are in a day?", "How many hours does a day have?", "How many hours in a day?",
      "A day has how many hours?"],
     "A day has 24 hours.", "24 hours"),
    (["Which days are the weekend?", "What days are the weekend?", "When is the weekend?",
      "What are the weekend days?"],
     "The weekend is Saturday and Sunday.", "Saturday and Sunday"),
]

# More phrasings (stage 2 of the demo model's training; see README.md), keyed by the first
# phrasing of the fact. They widen the vocabulary each answer is tied to.
EXTRA_FORMS = {
    "Who created RWKV?": ["Who built RWKV?", "Who developed RWKV?", "Who wrote RWKV?"],
    "How do you pronounce RWKV?": ["How should I pronounce RWKV?", "Pronounce RWKV for me.", "What is the right way to say RWKV?"],
    "Can Ravel resume a conversation?": ["Can I continue a chat later?", "Can Ravel resume an old conversation?",
                                         "Can I go back to a conversation later?"],
    "What is RWKV-7?": ["Which version of RWKV are you?", "What RWKV version is this model?", "What version is RWKV-7?"],
    "How many days are in a week?": ["In a week, how many days are there?", "Number of days in a week?",
                                     "How many days make a week?"],
    "How many months are in a year?": ["In a year, how many months are there?", "Number of months in a year?",
                                       "How many months make a year?"],
    "How many hours are in a day?": ["In a day, how many hours are there?", "Number of hours in a day?",
                                     "How many hours make a day?"],
    "Which days are the weekend?": ["What days are in the weekend?", "Name the weekend days.", "Which days make the weekend?"],
}

# Unit conversions that scale by a power of ten: (from singular, from plural, to plural, factor).
CONVERSIONS = [
    ("meter", "meters", "centimeters", 100),
    ("kilometer", "kilometers", "meters", 1000),
    ("kilogram", "kilograms", "grams", 1000),
    ("liter", "liters", "milliliters", 1000),
    ("centimeter", "centimeters", "millimeters", 10),
]
CONVERSION_FORMS = ["How many {to} are in {n} {frm}?", "Convert {n} {frm} to {to}.", "What is {n} {frm} in {to}?",
                    "How many {to} is {n} {frm}?"]

ADD_FORMS = ["What is {a}+{b}?", "What is {a} + {b}?", "What's {a} plus {b}?", "Calculate {a}+{b}.",
             "{a}+{b}=?", "What is {a} plus {b}?", "Add {a} and {b}.", "How much is {a} + {b}?"]
SUB_FORMS = ["What is {a}-{b}?", "What is {a} - {b}?", "What's {a} minus {b}?", "Calculate {a}-{b}.",
             "{a}-{b}=?", "What is {a} minus {b}?", "Subtract {b} from {a}.", "How much is {a} - {b}?"]


def _unit(n, singular, plural):
    return "%d %s" % (n, singular if n == 1 else plural)


def arithmetic_pair_is_heldout(op, a, b):
    """Two-digit operand pairs kept out of training (about 1 in 8, chosen by a fixed hash)."""
    if a < 10 and b < 10:
        return False
    return (a * 131 + b * 71 + (7 if op == "-" else 0)) % 8 == 3


def conversion_is_heldout(idx, n):
    return n >= 2 and (n * 37 + idx * 11) % 7 == 2


DEFAULT_MIX = {"arithmetic": 0.55, "conversion": 0.12, "days": 0.09, "fact": 0.18, "greeting": 0.06}


def parse_mix(text):
    """"arithmetic=0.7,fact=0.1,..." -> shares for every topic (missing topics get 0)."""
    mix = {k: 0.0 for k in DEFAULT_MIX}
    for part in text.split(","):
        key, _, val = part.partition("=")
        if key.strip() not in mix:
            raise ValueError("unknown topic %r" % key)
        mix[key.strip()] = float(val)
    return mix


def worked_answer(a, op, b):
    """The reply to a sum or difference. Two-digit cases are worked in small steps, each a
    one-digit fact or a copy, which a small byte-level RNN learns from far fewer examples than
    the whole two-digit table:
        23 + 45 = 20 + 40 + 3 + 5 = 60 + 8 = 68.
        45 - 27 = 45 - 20 - 7 = 25 - 7 = 18.
    """
    result = a + b if op == "+" else a - b
    if a < 10 and b < 10:
        return "%d %s %d = %d." % (a, op, b, result)
    if op == "+":
        at, bt = a // 10 * 10, b // 10 * 10
        return "%d + %d = %d + %d + %d + %d = %d + %d = %d." % (
            a, b, at, bt, a % 10, b % 10, at + bt, a % 10 + b % 10, result)
    bt = b // 10 * 10
    return "%d - %d = %d - %d - %d = %d - %d = %d." % (a, b, a, bt, b % 10, a - bt, b % 10, result)


class Generator:
    def __init__(self, seed, heldout_fact_forms, mix=None, worked=True, extra_forms=True):
        self.worked = worked
        self.extra_forms = extra_forms
        self.rng = random.Random(seed)
        self.heldout_fact_forms = heldout_fact_forms  # set of (fact index, form index)
        self.mix = dict(mix or DEFAULT_MIX)

    def arithmetic(self, heldout=False):
        rng = self.rng
        while True:
            op = rng.choice("+-")
            big = rng.random() < 0.8 or heldout
            a = rng.randint(0, 99 if big else 9)
            b = rng.randint(0, 99 if big else 9)
            if op == "-" and b > a:
                a, b = b, a
            if arithmetic_pair_is_heldout(op, a, b) == heldout:
                break
        form = rng.choice(ADD_FORMS if op == "+" else SUB_FORMS).format(a=a, b=b)
        result = a + b if op == "+" else a - b
        answer = worked_answer(a, op, b) if self.worked else "%d %s %d = %d." % (a, op, b, result)
        return form, answer, "= %d." % result

    def conversion(self, heldout=False):
        rng = self.rng
        while True:
            idx = rng.randrange(len(CONVERSIONS))
            n = rng.randint(1, 99) if rng.random() < 0.85 else rng.randint(1, 9)
            if conversion_is_heldout(idx, n) == heldout:
                break
        sing, plur, to, factor = CONVERSIONS[idx]
        q = rng.choice(CONVERSION_FORMS).format(n=n, frm=sing if n == 1 else plur, to=to)
        answer = "%s = %d %s." % (_unit(n, sing, plur), n * factor, to)
        return q, answer, "= %d %s." % (n * factor, to)

    def days(self):
        rng = self.rng
        kind = rng.randrange(5)
        if kind == 0:
            i = rng.randrange(7)
            q = rng.choice(["What day comes after {d}?", "What day is after {d}?", "Which day follows {d}?"]).format(d=DAYS[i])
            return q, "The day after %s is %s." % (DAYS[i], DAYS[(i + 1) % 7])
        if kind == 1:
            i = rng.randrange(7)
            q = rng.choice(["What day comes before {d}?", "What day is before {d}?"]).format(d=DAYS[i])
            return q, "The day before %s is %s." % (DAYS[i], DAYS[(i - 1) % 7])
        if kind == 2:
            i = rng.randrange(12)
            q = rng.choice(["What month comes after {m}?", "Which month follows {m}?", "What month is after {m}?"]).format(m=MONTHS[i])
            return q, "The month after %s is %s." % (MONTHS[i], MONTHS[(i + 1) % 12])
        if kind == 3:
            i = rng.randrange(12)
            q = rng.choice(["How many days are in {m}?", "How many days does {m} have?", "How long is {m}?"]).format(m=MONTHS[i])
            return q, "%s has %s days." % (MONTHS[i], MONTH_DAYS[i])
        i = rng.randrange(7)
        q = rng.choice(["Is {d} a weekend day?", "Is {d} part of the weekend?", "Is {d} a weekday?"]).format(d=DAYS[i])
        if i >= 5:
            return q, "%s is a weekend day." % DAYS[i]
        return q, "%s is a weekday." % DAYS[i]

    def fact(self):
        rng = self.rng
        while True:
            fi = rng.randrange(len(FACTS))
            forms, answer, _ = FACTS[fi]
            if self.extra_forms:
                pool = [f for j, f in enumerate(forms) if (fi, j) not in self.heldout_fact_forms]
                return rng.choice(pool + EXTRA_FORMS.get(forms[0], [])), answer
            j = rng.randrange(len(forms))
            if (fi, j) not in self.heldout_fact_forms:
                return forms[j], answer

    def greeting(self):
        forms, answer = self.rng.choice(GREETINGS)
        return self.rng.choice(forms), answer

    def exchange(self):
        x = self.rng.random() * sum(self.mix.values())
        for topic, share in self.mix.items():
            x -= share
            if x < 0:
                break
        if topic == "arithmetic":
            q, a, _ = self.arithmetic()
        elif topic == "conversion":
            q, a, _ = self.conversion()
        elif topic == "days":
            q, a = self.days()
        elif topic == "fact":
            q, a = self.fact()
        else:
            q, a = self.greeting()
        return self._noise(q), a

    def _noise(self, q):
        """Small surface variation so the model keys on content, not exact punctuation."""
        rng = self.rng
        r = rng.random()
        if r < 0.08 and q[0].isalpha():
            q = q[0].lower() + q[1:]
        elif r < 0.13 and q.endswith(("?", ".", "!")):
            q = q[:-1]
        return q

    def conversation(self, max_bytes):
        """One conversation of consecutive exchanges, starting from a fresh state; returns the
        text and a mask that is 1 on the bytes the model should learn (the assistant replies)."""
        text, mask = bytearray(), bytearray()
        while True:
            q, a = self.exchange()
            user = ("User: %s\n\nAssistant:" % q).encode()
            reply = (" %s\n\n" % a).encode()
            if len(text) + len(user) + len(reply) > max_bytes and text:
                return bytes(text), bytes(mask)
            text += user
            mask += b"\0" * len(user)
            text += reply
            mask += b"\1" * len(reply)
            if len(text) >= max_bytes:
                return bytes(text[:max_bytes]), bytes(mask[:max_bytes])


def heldout_fact_forms(n_fact_forms=None):
    """One phrasing of each fact (the last) never appears in training."""
    return {(i, len(forms) - 1) for i, (forms, _, _) in enumerate(FACTS)}


def heldout_set(seed, n_arith=120, n_conv=40):
    """The evaluation questions: none of them occurs in the training corpus."""
    gen = Generator(seed, set())
    items, seen = [], set()
    while len(items) < n_arith:
        q, a, expect = gen.arithmetic(heldout=True)
        if q not in seen:
            seen.add(q)
            items.append({"kind": "arithmetic", "question": q, "reference_answer": a, "expect": expect})
    while len(items) < n_arith + n_conv:
        q, a, expect = gen.conversion(heldout=True)
        if q not in seen:
            seen.add(q)
            items.append({"kind": "conversion", "question": q, "reference_answer": a, "expect": expect})
    for i, j in sorted(heldout_fact_forms()):
        forms, answer, expect = FACTS[i]
        items.append({"kind": "fact", "question": forms[j], "reference_answer": answer, "expect": expect})
    return items
