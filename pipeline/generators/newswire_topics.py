"""The topics of the generated newswire (``newswire``): each one's share of the stories, the topics it
borrows sentences from, and its own title and sentence templates, shaped like Reuters-21578 R52's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    weight: float  # share of the stories, before renormalising over the topics in use
    related: tuple[str, ...]  # topics it borrows sentences from, and is mistaken for
    titles: tuple[str, ...]
    sentences: tuple[str, ...]


# In R52's order of size; the first n_topics are used.
TOPICS: dict[str, Topic] = {
    "earn": Topic(
        38,
        ("acq",),
        (
            "{co} {tk} qtr net",
            "{co} {tk} year net",
            "{co} {tk} first quarter loss",
            "{co} {tk} raises quarterly dividend",
            "{co} {tk} sets stock split",
            "{co} {tk} nine mths net",
        ),
        (
            "shr {q} cts vs {q} cts",
            "net {q} mln vs {q} mln",
            "revs {q} mln dlrs vs {q} mln dlrs",
            "shr loss {q} cts vs profit {q} cts",
            "qtly div {q} cts vs {q} cts prior",
            "pay {month} record {month}",
            "avg shrs {q} mln vs {q} mln",
            "the company said earnings per share rose on higher sales",
            "year net includes a tax credit of {q} mln dlrs",
            "the board declared a two for one stock split",
            "operating net excludes a gain from discontinued operations",
            "sales rose {q} pct to {q} mln dlrs in the fiscal year",
        ),
    ),
    "acq": Topic(
        22,
        ("earn", "gold"),
        (
            "{co} to acquire {co2}",
            "{co} completes purchase of {co2} unit",
            "{co} bids for {co2}",
            "{co} ups stake in {co2}",
            "{co} agrees to merger with {co2}",
            "{co} sells division to {co2}",
        ),
        (
            "{co} said it agreed to acquire {co2} for {q} dlrs a share in cash",
            "the merger is subject to approval by shareholders and regulators",
            "{co} said it holds a {q} pct stake in {co2}",
            "the tender offer expires on {month} unless extended",
            "{co2} said its board rejected the takeover bid as inadequate",
            "terms of the acquisition were not disclosed",
            "the company filed with the securities and exchange commission",
            "a group of investors led by {co} raised its stake",
            "the buyout is valued at about {q} mln dlrs",
            "{co2} said it would consider other offers",
            "the definitive agreement calls for an exchange of stock",
        ),
    ),
    "crude": Topic(
        8,
        ("ship", "gnp"),
        (
            "opec oil output rises in {month}",
            "{co} raises crude oil posted prices",
            "{country} cuts oil production",
            "crude oil prices fall on opec worries",
            "{country} oil exports rise",
        ),
        (
            "opec ministers meet in vienna to discuss production quotas",
            "the price of west texas intermediate crude rose {q} cts a barrel",
            "{country} said it would keep output within its opec quota",
            "oil industry sources said crude stocks fell last week",
            "the refinery processes {q} barrels per day",
            "posted prices for light sweet crude were raised",
            "saudi arabia and kuwait pledged to defend the reference price",
            "drilling activity and oil exploration budgets were cut",
            "petroleum product demand in {country} rose {q} pct",
            "the energy department said crude imports increased",
        ),
    ),
    "trade": Topic(
        7,
        ("money-fx", "ship", "gnp"),
        (
            "{country} trade surplus widens in {month}",
            "{country} warns {country2} on trade barriers",
            "us trade deficit narrows",
            "{country} agrees to open markets to imports",
            "trade talks with {country2} end without accord",
        ),
        (
            "the trade deficit narrowed to {q} billion dlrs in {month}",
            "exports rose {q} pct while imports fell",
            "{country} threatened tariffs on semiconductor imports from {country2}",
            "the gatt talks on agricultural subsidies continue in geneva",
            "officials said protectionist legislation in congress was a threat",
            "the commerce department said the surplus with {country2} grew",
            "reagan said retaliation was a last resort in the dispute",
            "negotiators discussed market access and import quotas",
            "{country} pledged to reduce its surplus with {country2}",
        ),
    ),
    "money-fx": Topic(
        6,
        ("interest", "trade", "money-supply"),
        (
            "dollar falls against yen in {city}",
            "bank of {country} intervenes to support currency",
            "{country} central bank buys dollars",
            "dollar steady ahead of group of seven meeting",
            "{country} money market given assistance",
        ),
        (
            "the dollar closed at {q} yen in {city} trading",
            "dealers said the central bank intervened to stem the currency rise",
            "the bank of england provided money market assistance of {q} mln stg",
            "finance ministers reaffirmed the louvre accord on exchange rates",
            "the mark and the yen rose against the dollar",
            "currency traders said the market was waiting for trade figures",
            "the shortage in the money market was forecast at {q} mln stg",
            "foreign exchange dealers said sterling was firm",
            "the baker remarks sent the dollar lower",
        ),
    ),
    "interest": Topic(
        5,
        ("money-fx", "money-supply"),
        (
            "{co} raises prime rate to {q} pct",
            "{country} cuts discount rate",
            "fed sets customer repurchase agreements",
            "{country} bank rate unchanged",
            "{co} lowers base lending rate",
        ),
        (
            "the prime lending rate was raised to {q} pct from {q} pct",
            "the federal reserve added reserves through customer repurchase agreements",
            "fed funds were trading at {q} pct",
            "the central bank cut its discount rate by half a point",
            "economists expect interest rates to ease further",
            "banks lowered base rates in line with money market rates",
            "treasury bill yields rose on inflation fears",
            "the rate cut was the first since {month}",
            "mortgage rates fell to their lowest level in years",
        ),
    ),
    "money-supply": Topic(
        4,
        ("interest", "money-fx"),
        (
            "us money supply rises {q} billion dlrs",
            "{country} broad money growth slows",
            "fed data show m one up",
            "{country} money supply growth accelerates in {month}",
        ),
        (
            "m one money supply rose {q} billion dlrs in the week",
            "the broad measure m three grew {q} pct year on year",
            "economists had forecast a decline in the narrow money supply",
            "bank lending to the private sector rose in {month}",
            "the monetary base expanded faster than the target range",
            "seasonally adjusted m two rose {q} billion dlrs",
            "the bundesbank said central bank money stock exceeded its target",
            "growth in money supply was within the targeted range",
        ),
    ),
    "ship": Topic(
        4,
        ("crude", "trade"),
        (
            "{country} port strike halts shipping",
            "tanker hit in gulf attack",
            "{co} orders new bulk carriers",
            "seamen strike ends at {city} port",
            "freight rates rise on grain cargoes",
        ),
        (
            "the tanker was hit by a missile in the gulf",
            "dockworkers at the port of {city} ended their strike",
            "shipping sources said vessels were waiting to load",
            "the cargo ship was carrying {q} tonnes of grain",
            "the shipping line ordered {q} container vessels",
            "port authorities said loading resumed on {day}",
            "insurance rates for gulf shipping rose sharply",
            "the freighter ran aground near the harbour entrance",
            "the navy escorted the convoy of tankers",
        ),
    ),
    "sugar": Topic(
        2,
        ("coffee", "trade"),
        (
            "{country} sugar crop estimate raised",
            "ec sells white sugar at tender",
            "sugar beet plantings down in {country}",
            "{country} buys raw sugar",
        ),
        (
            "the european community sold {q} tonnes of white sugar at its weekly tender",
            "traders said the sugar crop would be smaller than expected",
            "raw sugar prices rose on the world market",
            "sugar beet sowings were delayed by cold weather",
            "the international sugar agreement talks ended without accord",
            "cane crushing in {country} was completed",
            "export licences for white sugar were granted",
            "refined sugar output fell {q} pct",
        ),
    ),
    "coffee": Topic(
        2,
        ("sugar", "trade"),
        (
            "ico coffee talks fail to agree quotas",
            "{country} coffee exports fall",
            "coffee prices rise on {country} frost",
            "{country} opens coffee export registrations",
        ),
        (
            "the international coffee organization failed to agree export quotas",
            "producers and consumers met in london to discuss the coffee pact",
            "{country} coffee exports fell to {q} bags in {month}",
            "frost damage to the coffee crop was feared",
            "arabica and robusta prices rose on the futures market",
            "the coffee institute set a new minimum export price",
            "roasters said green coffee stocks were ample",
            "the quota system was suspended last year",
        ),
    ),
    "gold": Topic(
        1.5,
        ("acq", "money-fx"),
        (
            "{co} gold production rises",
            "gold prices steady in {city}",
            "{co} finds gold deposit in {country}",
            "{country} gold reserves unchanged",
        ),
        (
            "the mine produced {q} ounces of gold in the quarter",
            "gold bullion closed at {q} dlrs an ounce",
            "drilling confirmed a gold ore deposit grading {q} ounces per ton",
            "the company said gold and silver output rose",
            "bullion dealers said gold was supported by dollar weakness",
            "the mining company expects to start production in {month}",
            "proven and probable gold reserves were raised",
            "platinum and gold prices rose in {city}",
        ),
    ),
    "gnp": Topic(
        1.5,
        ("trade", "interest"),
        (
            "{country} gnp rises {q} pct in quarter",
            "{country} economic growth slows",
            "{country} gdp forecast cut",
            "us gnp revised upward",
        ),
        (
            "gross national product rose {q} pct in the fourth quarter",
            "real gdp growth was forecast at {q} pct this year",
            "the government revised its economic growth forecast",
            "economists said domestic demand was the main source of growth",
            "the commerce department said the gnp deflator rose",
            "industrial output and consumer spending slowed",
            "the economy grew at an annual rate of {q} pct",
            "the statistics office said gross domestic product fell",
        ),
    ),
}
