"""Which exchange the next record comes from (LIMA section 2.1): equal numbers from the STEM
and the other group, and within a group an exchange drawn with probability proportional to
size^(1/temperature), so big sites do not dominate (temperature 3: a site 1000x larger is
drawn 1000^(1/3) = 10x as often).

"Size" is the site's count of eligible records (after the filters), fixed before the first
draw; an exhausted site drops out and the others keep their relative weights.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

STEM, OTHER = "stem", "other"

# LIMA does not publish its 75-site STEM list; these are the sciences, mathematics,
# engineering and computing sites of the network (names as site_name() normalises them).
DEFAULT_STEM_SITES = frozenset({
    # computing
    "stackoverflow", "superuser", "serverfault", "askubuntu", "unix", "apple", "android",
    "dba", "security", "codereview", "softwareengineering", "programmers", "tex", "gis",
    "webmasters", "webapps", "wordpress", "sharepoint", "salesforce", "drupal", "magento",
    "gamedev", "codegolf", "networkengineering", "datascience", "ai", "cs", "cstheory",
    "crypto", "reverseengineering", "sqa", "devops", "emacs", "vi", "vim", "mathematica",
    "raspberrypi", "arduino", "iot", "quantumcomputing", "computergraphics", "dsp",
    "bioinformatics", "opendata", "retrocomputing", "hardwarerecs", "softwarerecs",
    "blender", "ux", "tor", "bitcoin", "ethereum", "scicomp", "or",
    # mathematics and statistics
    "math", "mathoverflow", "stats", "matheducators", "quant",
    # sciences
    "physics", "chemistry", "biology", "astronomy", "earthscience", "space", "psychology",
    "cogsci", "medicalsciences", "hsm", "materials", "mattermodeling",
    # engineering
    "electronics", "engineering", "robotics", "drones", "3dprinting", "ham", "mechanics",
})


def group_of(site: str, stem_sites: list[str] | None) -> str:
    stem = DEFAULT_STEM_SITES if stem_sites is None else {s.lower() for s in stem_sites}
    return STEM if site in stem else OTHER


def site_weights(sizes: dict[str, int], temperature: float) -> dict[str, float]:
    """size^(1/temperature) per site with records (the unnormalised draw weights)."""
    return {site: n ** (1.0 / temperature) for site, n in sizes.items() if n > 0}


def group_shares(sizes: dict[str, int], groups: dict[str, str], temperature: float,
                 balance: bool) -> dict[str, float]:
    """Each site's initial probability of being drawn within its group (or among all
    sites when groups are not balanced), for the pool's notes."""
    weights = site_weights(sizes, temperature)
    totals: dict[str, float] = {}
    for site, w in weights.items():
        key = groups[site] if balance else "all"
        totals[key] = totals.get(key, 0.0) + w
    return {site: round(w / totals[groups[site] if balance else "all"], 6)
            for site, w in sorted(weights.items())}


def draw_order(sizes: dict[str, int], groups: dict[str, str], n: int | None,
               temperature: float, balance: bool, seed: int) -> Iterator[str]:
    """The site of each successive record, n of them (None: until every site is empty).

    With balance, draws alternate STEM / other while both groups have records left, then
    continue from whichever still has some."""
    rng = random.Random(f"ablate.se.sites\x1f{seed}")
    weights = site_weights(sizes, temperature)
    left = {site: sizes[site] for site in weights}
    members: dict[str, list[str]] = {}
    for site in sorted(weights):
        members.setdefault(groups[site] if balance else "all", []).append(site)
    order = [g for g in (STEM, OTHER, "all") if g in members]
    drawn = 0
    while n is None or drawn < n:
        live = [g for g in order if any(left[s] for s in members[g])]
        if not live:
            return
        sites = [s for s in members[live[drawn % len(live)]] if left[s]]
        site = rng.choices(sites, weights=[weights[s] for s in sites])[0]
        left[site] -= 1
        drawn += 1
        yield site
