"""Synthetic question/answer records across many topics, for offline tests and the quickstart.

Every record is drawn from its own RNG keyed on (seed, split, index), so any prefix of a pool
is itself a valid pool and results never depend on the process (Python's hash() is salted).
"""

from __future__ import annotations

import hashlib
import random

SPLITS = ("train", "eval")
# Below this a response could not hold its opening sentence, so the cap is refused up front.
MIN_MAX_RESPONSE_CHARS = 150

# topic -> (entities, actions, concepts); "|"-separated to keep 26 vocabularies readable.
_VOCAB: dict[str, tuple[str, str, str]] = {
    "cooking": ("cast iron pan|chef's knife|stock pot|dutch oven|sheet pan|spice rack",
                "sear a steak|make a pan sauce|dice an onion|cook fluffy rice|braise short ribs",
                "the Maillard reaction|carryover cooking|emulsification|seasoning to taste"),
    "gardening": ("raised bed|compost pile|tomato plant|drip line|pruning shear|seed tray",
                  "start seeds indoors|improve clay soil|prune a rose bush|rotate crops",
                  "soil pH|companion planting|hardening off|mulching|nitrogen fixation"),
    "python programming": ("list comprehension|virtual environment|dictionary|generator|"
                           "decorator|dataclass", "read a CSV file|write a unit test|"
                           "profile slow code|package a module|handle exceptions cleanly",
                           "duck typing|the GIL|mutability|lazy evaluation|scoping rules"),
    "javascript development": ("promise|event listener|arrow function|Node package|"
                               "fetch request|DOM node", "debounce an input handler|"
                               "fetch JSON from an API|bundle a web app|clone an object",
                               "the event loop|closures|hoisting|prototypal inheritance"),
    "sql databases": ("index|foreign key|join|view|stored procedure|transaction",
                      "speed up a slow query|design a schema|remove duplicate rows|"
                      "back up a database", "normalization|query planning|ACID guarantees|"
                      "cardinality|isolation levels"),
    "linux command line": ("shell script|cron job|file permission|environment variable|"
                           "pipe|symbolic link", "find large files|schedule a backup|"
                           "search logs with grep|kill a stuck process", "standard streams|"
                           "exit codes|globbing|process signals|the PATH variable"),
    "linear algebra": ("matrix|eigenvector|basis|determinant|vector space|orthogonal projection",
                       "invert a matrix|diagonalize a matrix|solve a linear system|"
                       "compute a rank", "linear independence|the spectral theorem|"
                       "rank-nullity|change of basis|orthogonality"),
    "calculus": ("derivative|integral|limit|Taylor series|chain rule|partial derivative",
                 "integrate by parts|find a local maximum|evaluate a limit|sketch a curve",
                 "continuity|the fundamental theorem|convergence|rates of change"),
    "statistics": ("confidence interval|p-value|histogram|regression line|sample|"
                   "control group", "run a t-test|choose a sample size|check for outliers|"
                   "fit a regression", "statistical power|the central limit theorem|bias|"
                   "variance|correlation versus causation"),
    "astronomy": ("telescope|star chart|nebula|binary star|red giant|galaxy cluster",
                  "find the Andromeda galaxy|collimate a telescope|photograph the Moon|"
                  "track a planet", "light pollution|stellar parallax|redshift|"
                  "apparent magnitude|orbital resonance"),
    "chemistry": ("titration|buffer solution|covalent bond|catalyst|molar solution|beaker",
                  "balance a chemical equation|prepare a dilution|calculate molarity|"
                  "purify a compound", "electronegativity|reaction kinetics|equilibrium|"
                  "oxidation states|entropy"),
    "physics": ("pendulum|inclined plane|circuit|lens|spring|projectile",
                "draw a free body diagram|calculate momentum|measure resistance|"
                "estimate air drag", "conservation of energy|Newton's third law|inertia|"
                "wave interference|torque"),
    "biology": ("cell membrane|enzyme|chromosome|mitochondrion|food web|bacterial culture",
                "read a phylogenetic tree|grow a bacterial culture|extract DNA at home|"
                "identify a leaf", "natural selection|homeostasis|gene expression|"
                "osmosis|symbiosis"),
    "personal finance": ("index fund|emergency fund|credit card|retirement account|budget|"
                         "mortgage", "build a monthly budget|pay down debt|start investing|"
                         "raise a credit score", "compound interest|diversification|"
                         "opportunity cost|inflation|dollar-cost averaging"),
    "travel": ("carry-on bag|rail pass|travel insurance|hostel|itinerary|packing cube",
               "pack light for two weeks|find cheap flights|beat jet lag|plan a rail trip",
               "shoulder season|open-jaw tickets|travel slow|local etiquette"),
    "photography": ("prime lens|tripod|polarizing filter|mirrorless camera|flash|light meter",
                    "shoot in low light|take sharp portraits|edit raw files|"
                    "photograph a sunset", "the exposure triangle|depth of field|"
                    "the rule of thirds|white balance|dynamic range"),
    "music theory": ("major scale|seventh chord|circle of fifths|time signature|cadence|"
                     "key signature", "transpose a melody|build a chord progression|"
                     "read a lead sheet|harmonize a melody", "voice leading|modal interchange|"
                     "tension and release|syncopation|intervals"),
    "fitness": ("kettlebell|resistance band|squat rack|rowing machine|foam roller|jump rope",
                "build a beginner routine|improve a deadlift|run a faster 5k|recover after "
                "leg day", "progressive overload|rest intervals|muscle hypertrophy|"
                "mobility|training volume"),
    "nutrition": ("protein source|whole grain|meal plan|food label|fiber supplement|snack",
                  "plan high-protein meals|cut added sugar|read a nutrition label|"
                  "meal prep for a week", "macronutrients|glycemic index|satiety|"
                  "energy balance|micronutrients"),
    "world history": ("primary source|empire|trade route|treaty|revolution|archive",
                      "evaluate a primary source|compare two empires|trace a trade route|"
                      "date an artifact", "historiography|causation in history|"
                      "the Columbian exchange|periodization|decolonization"),
    "philosophy": ("thought experiment|syllogism|ethical theory|dialogue|premise|paradox",
                   "analyze an argument|write a philosophy essay|spot a fallacy|"
                   "read Kant", "utilitarianism|free will|epistemic justification|"
                   "the social contract|personal identity"),
    "creative writing": ("short story|character arc|dialogue scene|outline|first draft|"
                         "writing prompt", "write a strong opening line|revise a first draft|"
                         "build a believable villain|overcome writer's block",
                         "show don't tell|point of view|pacing|narrative tension|voice"),
    "home repair": ("drywall patch|leaky faucet|circuit breaker|caulk gun|stud finder|"
                    "door hinge", "patch a hole in drywall|fix a running toilet|"
                    "replace a light switch|unclog a drain", "load-bearing walls|"
                    "water pressure|electrical grounding|moisture control"),
    "language learning": ("flashcard deck|language exchange|grammar book|podcast|phrasebook|"
                          "tutor", "memorize vocabulary|improve my accent|learn verb "
                          "conjugations|start speaking sooner", "spaced repetition|"
                          "comprehensible input|immersion|false friends"),
    "pet care": ("dog crate|litter box|chew toy|leash|aquarium filter|pet carrier",
                 "house-train a puppy|introduce a new cat|trim a dog's nails|"
                 "clean a fish tank", "positive reinforcement|socialization|"
                 "enrichment|body language"),
    "woodworking": ("hand plane|dovetail joint|table saw|wood glue|chisel|workbench",
                    "cut a mortise and tenon|finish a tabletop|sharpen a chisel|"
                    "build a bookshelf", "wood movement|grain direction|joinery strength|"
                    "finishing schedules"),
}
TOPICS: tuple[str, ...] = tuple(_VOCAB)
_WORDS = {t: tuple(tuple(part.split("|")) for part in v) for t, v in _VOCAB.items()}

# Programming topics get a code block; templates use {name} via str.replace because JS/SQL
# braces would break str.format.
_CODE: dict[str, tuple[str, tuple[str, ...]]] = {
    "python programming": ("python", (
        "def load_{name}(path):\n    with open(path) as f:\n"
        "        return [line.strip() for line in f]",
        "from dataclasses import dataclass\n\n@dataclass\nclass {Name}:\n    size: int = 0")),
    "javascript development": ("javascript", (
        "async function get{Name}(url) {\n  const res = await fetch(url);\n  return res.json();\n}",
        "const {name} = items.filter((x) => x.ok).map((x) => x.id);")),
    "sql databases": ("sql", (
        "CREATE INDEX idx_{name} ON orders (customer_id);",
        "SELECT customer_id, COUNT(*) AS {name}\nFROM orders\nGROUP BY customer_id;")),
    "linux command line": ("bash", (
        "find . -type f -size +100M -print > {name}.txt",
        "#!/usr/bin/env bash\nset -euo pipefail\ngrep -i error app.log | tail -n 20 > {name}.log")),
}

_QUESTIONS: dict[str, tuple[str, ...]] = {
    "howto": ("How do I {action}?", "What's the best way to {action}?",
              "Can you walk me through how to {action}?",
              "How do I {action}, and where does {concept} come in?"),
    "why": ("Why does {concept} matter when working with {a_entity}?",
            "Why do people say {concept} matters more than {concept2} in {topic}?"),
    "compare": ("What is the difference between {a_entity} and {a_entity2}?",
                "Should I use {a_entity} or {a_entity2}?",
                "Compare {a_entity} and {a_entity2} for someone getting into {topic}."),
    "explain": ("Can you explain {concept} in simple terms?",
                "What is meant by {concept}, and how is it different from {concept2}?",
                "Explain {concept} and how it relates to {a_entity}."),
    "troubleshoot": ("I tried to {action} but it didn't work. What went wrong?",
                     "Something seems off with my {entity}. How do I find the problem?",
                     "I keep failing to {action}. Any troubleshooting tips?",
                     "My {entity} is not doing what {concept} suggests. What should I check?"),
    "recommend": ("What should I learn first in {topic}: {concept} or {concept2}?",
                  "What should a beginner know about working with {a_entity}?",
                  "Can you recommend a few ways to get better at {topic}, especially {concept}?"),
}
_CONTEXTS = ("I'm a complete beginner.", "I have some experience but want to improve.",
             "I only have a few hours a week.", "I'm on a tight budget.",
             "Please keep it practical.", "I've read a bit online but I'm still confused.",
             "A friend suggested I ask here.", "I want to get it right the first time.",
             "A short answer is fine.", "I'm explaining this to my teenager next week.",
             "I'm coming back to this after a long break.", "Please be specific.")
_INTROS = {
    "howto": "To {action} well, it helps to understand {concept} before you reach for "
             "the {entity}.",
    "why": "{Concept} matters because it shapes how {a_entity} behaves in everyday {topic}, "
           "from the first attempt onwards.",
    "compare": "{A_entity} and {a_entity2} overlap in places, but they suit different "
               "situations in {topic}.",
    "explain": "{Concept} is a core idea in {topic}, and it is easiest to see through a concrete "
               "example with {a_entity}.",
    "troubleshoot": "Problems like this usually have a few common causes, and {concept} is the "
                    "first thing worth checking.",
    "recommend": "For most people starting out in {topic}, a simple {entity} and a solid grasp "
                 "of {concept} go a long way.",
}
# Ordered pools: a sorted sample keeps the steps in a sensible sequence.
_STEPS = ("Read up on {concept} so you know what a good result looks like.",
          "Set up your {entity} and check that it is in good condition.",
          "Try to {action} on a small scale first.", "Change one thing at a time and take notes.",
          "Compare what you see with what {concept2} would predict.",
          "Ask someone experienced to look at your {entity2}.",
          "Repeat until you can {action} without thinking about it.")
_POINTS = ("Choose {a_entity} when {concept} matters most.",
           "{A_entity2} is the better fit when you care about {concept2}.",
           "Both reward patience and regular practice.", "Keep {concept} in mind at every stage.",
           "Avoid rushing: most mistakes in {topic} come from skipping basics.",
           "Your own goals should matter more than general advice does.")
_SENTENCES = ("In practice, {concept} shows up whenever you {action}.",
              "A common mistake is to ignore {concept2} until something goes wrong.",
              "Working with {a_entity2} makes the idea more concrete.",
              "Beginners often find that a little theory saves a lot of trial and error.",
              "It is worth revisiting the basics after a few weeks of practice.")
_CLOSINGS = ("If you stay patient and keep notes, {topic} gets easier quickly.",
             "Start small, and build up once the basics feel natural.",
             "Let me know what you try and I can suggest next steps.")


def _stable_int(*parts: object) -> int:
    """A process-independent 64-bit integer from the parts (unlike the salted hash())."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article(noun: str) -> str:
    # Spelling-based, which is right for every noun in the vocabularies above.
    return f"{'an' if noun[0].lower() in 'aeiou' else 'a'} {noun}"


def _slots(rng: random.Random, topic: str) -> dict[str, str]:
    """Vocabulary picks for one record; pairs are distinct so comparisons make sense."""
    entities, actions, concepts = _WORDS[topic]
    entity, entity2 = rng.sample(entities, 2)
    concept, concept2 = rng.sample(concepts, 2)
    a_entity, a_entity2 = _article(entity), _article(entity2)
    return {"topic": topic, "entity": entity, "entity2": entity2, "a_entity": a_entity,
            "a_entity2": a_entity2, "A_entity": _cap(a_entity), "A_entity2": _cap(a_entity2),
            "action": rng.choice(actions), "concept": concept, "Concept": _cap(concept),
            "concept2": concept2}


def _prompt(rng: random.Random, form: str, slots: dict[str, str]) -> str:
    question = rng.choice(_QUESTIONS[form]).format(**slots)
    # Asker context multiplies the prompt space so a few thousand records stay mostly unique.
    roll = rng.random()
    if roll < 0.3:
        return question
    context = rng.choice(_CONTEXTS)
    return f"{context} {question}" if roll < 0.65 else f"{question} {context}"


def _code_block(rng: random.Random, topic: str, slots: dict[str, str]) -> str:
    lang, snippets = _CODE[topic]
    words = "".join(c if c.isalnum() else " " for c in slots["entity"]).split()
    name = "_".join(w.lower() for w in words) or "data"
    code = rng.choice(snippets).replace("{Name}", "".join(w.title() for w in words) or "Data")
    return f"Here is a minimal example:\n\n```{lang}\n{code.replace('{name}', name)}\n```"


def _segments(rng: random.Random, form: str, slots: dict[str, str]) -> list[str]:
    """Response pieces, each carrying its leading separator and ending at a sentence or line."""
    segs = [_INTROS[form].format(**slots)]
    fmt = rng.choice(("steps", "steps", "paragraph") if form in ("howto", "troubleshoot")
                     else ("bullets", "paragraph", "paragraph"))
    k = rng.randint(3, 5)
    if fmt == "steps":
        picks = sorted(rng.sample(range(len(_STEPS)), k))
        segs += [f"\n{n}. {_STEPS[j].format(**slots)}" for n, j in enumerate(picks, 1)]
    elif fmt == "bullets":
        segs += [f"\n- {p.format(**slots)}" for p in rng.sample(_POINTS, k)]
    else:
        segs += [f" {s.format(**slots)}" for s in rng.sample(_SENTENCES, k - 1)]
    if fmt != "paragraph":
        segs[1] = "\n" + segs[1]  # a blank line between the intro and the list
    if slots["topic"] in _CODE and rng.random() < 0.6:
        segs.append("\n\n" + _code_block(rng, slots["topic"], slots))
    gap = " " if segs[-1].startswith(" ") else "\n\n"
    segs.append(gap + rng.choice(_CLOSINGS).format(**slots))
    return segs


def _join(segs: list[str], max_chars: int) -> str:
    """Greedy prefix of whole segments, so truncation never splits a sentence or code block."""
    out = segs[0]
    if len(out) > max_chars:  # unreachable with current vocab; a word-boundary cut as a guard
        out = out[: max_chars - 1].rsplit(" ", 1)[0] + "."
    for seg in segs[1:]:
        if len(out) + len(seg) > max_chars:
            break
        out += seg
    return out


def _record(seed: int, split: str, i: int, max_chars: int) -> dict[str, str]:
    rng = random.Random(_stable_int("ablate.synthetic", seed, split, i))
    topic = rng.choice(TOPICS)
    form = rng.choice(tuple(_QUESTIONS))
    # Each prompt belongs to exactly one split by its own hash, so train and eval can never
    # share a prompt while both still draw from the same distribution; ~2 draws on average.
    while True:
        slots = _slots(rng, topic)
        prompt = _prompt(rng, form, slots)
        if _stable_int("ablate.split", prompt) % len(SPLITS) == SPLITS.index(split):
            break
    response = _join(_segments(rng, form, slots), max_chars)
    return {"id": f"{split}-{seed}-{i}", "prompt": prompt, "response": response, "topic": topic}


def synthetic_records(n: int, seed: int, split: str = "train",
                      max_response_chars: int = 600) -> list[dict[str, str]]:
    """n deterministic records {"id", "prompt", "response", "topic"} for that seed and split.

    Record i depends only on (seed, split, i), so the first m of n records equal the m records.
    """
    if n < 0:
        raise ValueError(f"synthetic_records: n must be >= 0, got {n}")
    if split not in SPLITS:
        raise ValueError(f"synthetic_records: unknown split {split!r} (expected one of {SPLITS})")
    if max_response_chars < MIN_MAX_RESPONSE_CHARS:
        raise ValueError(f"synthetic_records: max_response_chars must be >= "
                         f"{MIN_MAX_RESPONSE_CHARS}, got {max_response_chars}")
    return [_record(seed, split, i, max_response_chars) for i in range(n)]
