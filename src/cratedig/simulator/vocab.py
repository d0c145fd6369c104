"""Fixed vocabularies of the site simulator: genres and tags, countries and time zones.

Everything here is plain data; :mod:`cratedig.simulator.world` turns it into arrays.
"""

from __future__ import annotations

from typing import NamedTuple


class Genre(NamedTuple):
    """A genre: its tag, how popular it is worldwide, and its more specific tags."""

    name: str
    weight: float
    tags: tuple[str, ...]


#: About twenty genres with Last.fm-like tags; ``weight`` is the worldwide share of taste.
GENRES: tuple[Genre, ...] = (
    Genre("rock", 10.0, ("classic rock", "alternative rock", "hard rock", "grunge", "90s")),
    Genre("pop", 12.0, ("dance pop", "synthpop", "female vocalists", "catchy", "00s")),
    Genre("hip-hop", 9.0, ("rap", "trap", "underground hip-hop", "boom bap", "conscious")),
    Genre("electronic", 7.0, ("idm", "electronica", "downtempo", "synthwave", "edm")),
    Genre("indie", 7.0, ("indie rock", "indie pop", "lo-fi", "dream pop", "shoegaze")),
    Genre("metal", 5.0, ("heavy metal", "death metal", "black metal", "doom", "thrash")),
    Genre("jazz", 3.0, ("bebop", "smooth jazz", "jazz fusion", "vocal jazz", "swing")),
    Genre("classical", 2.5, ("baroque", "romantic", "piano", "orchestral", "opera")),
    Genre("folk", 3.0, ("singer-songwriter", "acoustic", "americana", "indie folk", "celtic")),
    Genre("r&b", 5.0, ("neo-soul", "contemporary r&b", "slow jams", "urban", "groove")),
    Genre(
        "country", 3.5, ("outlaw country", "bluegrass", "country pop", "honky tonk", "nashville")
    ),
    Genre("reggae", 2.0, ("dub", "roots reggae", "dancehall", "ska", "rocksteady")),
    Genre("latin", 5.0, ("reggaeton", "salsa", "bachata", "latin pop", "cumbia")),
    Genre("k-pop", 3.5, ("korean", "idol", "girl group", "boy band", "k-indie")),
    Genre("punk", 2.5, ("pop punk", "hardcore", "post-punk", "emo", "skate punk")),
    Genre("blues", 1.5, ("delta blues", "chicago blues", "blues rock", "electric blues", "slide")),
    Genre("soul", 2.5, ("motown", "funk", "northern soul", "gospel", "60s")),
    Genre("ambient", 2.0, ("drone", "chillout", "new age", "atmospheric", "soundscape")),
    Genre("house", 3.0, ("deep house", "tech house", "progressive house", "disco", "club")),
    Genre("techno", 2.5, ("minimal techno", "detroit techno", "industrial", "acid", "berlin")),
    Genre("afrobeats", 2.0, ("afropop", "afrobeat", "amapiano", "highlife", "naija")),
)

#: Genres that are often mixed in one artist (secondary genre candidates).
RELATED_GENRES: dict[str, tuple[str, ...]] = {
    "rock": ("indie", "metal", "punk", "blues", "folk"),
    "pop": ("r&b", "electronic", "k-pop", "latin", "house"),
    "hip-hop": ("r&b", "electronic", "soul", "afrobeats", "pop"),
    "electronic": ("house", "techno", "ambient", "pop", "indie"),
    "indie": ("rock", "folk", "pop", "electronic", "punk"),
    "metal": ("rock", "punk"),
    "jazz": ("soul", "blues", "classical", "r&b"),
    "classical": ("ambient", "jazz"),
    "folk": ("indie", "country", "rock", "blues"),
    "r&b": ("soul", "hip-hop", "pop"),
    "country": ("folk", "rock", "blues", "pop"),
    "reggae": ("hip-hop", "latin", "afrobeats", "soul"),
    "latin": ("pop", "reggae", "hip-hop"),
    "k-pop": ("pop", "r&b", "hip-hop"),
    "punk": ("rock", "metal", "indie"),
    "blues": ("rock", "soul", "jazz"),
    "soul": ("r&b", "jazz", "blues", "hip-hop"),
    "ambient": ("electronic", "classical"),
    "house": ("electronic", "techno", "pop"),
    "techno": ("electronic", "house", "ambient"),
    "afrobeats": ("hip-hop", "pop", "reggae", "r&b"),
}

#: Tags any artist may carry besides genre tags.
GENERAL_TAGS: tuple[str, ...] = (
    "female vocalists",
    "male vocalists",
    "chill",
    "love",
    "party",
    "instrumental",
    "beautiful",
    "melancholic",
    "energetic",
    "80s",
    "90s",
    "00s",
    "live",
    "seen live",
    "summer",
)


class Place(NamedTuple):
    """One place users live in: a region and city with its IANA time zone."""

    region: str
    city: str
    timezone: str
    weight: float


class Country(NamedTuple):
    """A country: ISO code, how many users come from it, its world area and places.

    ``nationality`` is the tag its artists sometimes carry; ``genre_boost`` makes some
    genres more popular there than worldwide.
    """

    code: str
    weight: float
    area: str
    nationality: str
    places: tuple[Place, ...]
    genre_boost: tuple[tuple[str, float], ...] = ()


COUNTRIES: tuple[Country, ...] = (
    Country(
        "US",
        24.0,
        "north-america",
        "american",
        (
            Place("New York", "New York City", "America/New_York", 4.0),
            Place("Illinois", "Chicago", "America/Chicago", 2.0),
            Place("Texas", "Austin", "America/Chicago", 2.0),
            Place("Colorado", "Denver", "America/Denver", 1.0),
            Place("California", "Los Angeles", "America/Los_Angeles", 4.0),
        ),
        (("country", 2.5), ("hip-hop", 1.4)),
    ),
    Country(
        "GB",
        9.0,
        "europe",
        "british",
        (
            Place("England", "London", "Europe/London", 4.0),
            Place("England", "Manchester", "Europe/London", 1.5),
            Place("Scotland", "Glasgow", "Europe/London", 1.0),
        ),
        (("indie", 1.6), ("punk", 1.4)),
    ),
    Country(
        "DE",
        8.0,
        "europe",
        "german",
        (
            Place("Berlin", "Berlin", "Europe/Berlin", 2.0),
            Place("Bavaria", "Munich", "Europe/Berlin", 1.5),
            Place("Hamburg", "Hamburg", "Europe/Berlin", 1.0),
        ),
        (("techno", 2.5), ("metal", 1.6), ("electronic", 1.4)),
    ),
    Country(
        "FR",
        6.0,
        "europe",
        "french",
        (
            Place("Ile-de-France", "Paris", "Europe/Paris", 3.0),
            Place("Auvergne-Rhone-Alpes", "Lyon", "Europe/Paris", 1.0),
        ),
        (("house", 1.8), ("hip-hop", 1.3)),
    ),
    Country(
        "ES",
        4.0,
        "europe",
        "spanish",
        (
            Place("Madrid", "Madrid", "Europe/Madrid", 2.0),
            Place("Catalonia", "Barcelona", "Europe/Madrid", 1.5),
        ),
        (("latin", 2.0),),
    ),
    Country(
        "SE",
        2.0,
        "europe",
        "swedish",
        (Place("Stockholm", "Stockholm", "Europe/Stockholm", 1.0),),
        (("metal", 2.0), ("pop", 1.3)),
    ),
    Country(
        "PL",
        3.0,
        "europe",
        "polish",
        (Place("Masovia", "Warsaw", "Europe/Warsaw", 1.0),),
        (("metal", 1.5), ("hip-hop", 1.3)),
    ),
    Country(
        "BR",
        8.0,
        "latin-america",
        "brazilian",
        (
            Place("Sao Paulo", "Sao Paulo", "America/Sao_Paulo", 2.0),
            Place("Rio de Janeiro", "Rio de Janeiro", "America/Sao_Paulo", 1.5),
        ),
        (("latin", 2.0), ("rock", 1.2)),
    ),
    Country(
        "MX",
        6.0,
        "latin-america",
        "mexican",
        (
            Place("Mexico City", "Mexico City", "America/Mexico_City", 2.0),
            Place("Jalisco", "Guadalajara", "America/Mexico_City", 1.0),
        ),
        (("latin", 3.0),),
    ),
    Country(
        "CA",
        4.0,
        "north-america",
        "canadian",
        (
            Place("Ontario", "Toronto", "America/Toronto", 2.0),
            Place("British Columbia", "Vancouver", "America/Vancouver", 1.0),
        ),
        (("indie", 1.4), ("hip-hop", 1.2)),
    ),
    Country(
        "JP",
        5.0,
        "asia",
        "japanese",
        (
            Place("Tokyo", "Tokyo", "Asia/Tokyo", 3.0),
            Place("Osaka", "Osaka", "Asia/Tokyo", 1.0),
        ),
        (("electronic", 1.5), ("jazz", 1.6), ("rock", 1.2)),
    ),
    Country(
        "KR",
        3.0,
        "asia",
        "korean",
        (Place("Seoul", "Seoul", "Asia/Seoul", 1.0),),
        (("k-pop", 6.0),),
    ),
    Country(
        "IN",
        5.0,
        "asia",
        "indian",
        (
            Place("Maharashtra", "Mumbai", "Asia/Kolkata", 1.5),
            Place("Karnataka", "Bengaluru", "Asia/Kolkata", 1.0),
        ),
        (("pop", 1.5), ("electronic", 1.3)),
    ),
    Country(
        "AU",
        4.0,
        "oceania",
        "australian",
        (
            Place("New South Wales", "Sydney", "Australia/Sydney", 2.0),
            Place("Western Australia", "Perth", "Australia/Perth", 0.7),
        ),
        (("indie", 1.4), ("rock", 1.3)),
    ),
    Country(
        "NG",
        3.0,
        "africa",
        "nigerian",
        (Place("Lagos", "Lagos", "Africa/Lagos", 1.0),),
        (("afrobeats", 8.0), ("reggae", 1.5)),
    ),
)

#: Relative number of sessions started in each local hour 0..23 (little at night).
DIURNAL_WEIGHTS: tuple[float, ...] = (
    0.9, 0.5, 0.3, 0.15, 0.1, 0.15, 0.4, 1.0, 1.6, 1.5, 1.4, 1.5,
    1.8, 1.7, 1.6, 1.7, 2.0, 2.4, 2.8, 3.0, 3.0, 2.7, 2.1, 1.4,
)  # fmt: skip

#: Words that make artist names and track titles.
NAME_ADJECTIVES: tuple[str, ...] = (
    "Silver", "Broken", "Velvet", "Electric", "Hidden", "Golden", "Quiet", "Wild",
    "Midnight", "Neon", "Crystal", "Hollow", "Burning", "Lunar", "Paper", "Iron",
    "Crimson", "Northern", "Lazy", "Static", "Fading", "Little", "Cosmic", "Sunday",
)  # fmt: skip
NAME_NOUNS: tuple[str, ...] = (
    "Wolves", "Harbour", "Echoes", "Machines", "Gardens", "Satellites", "Rivers",
    "Ghosts", "Parade", "Tigers", "Lanterns", "Horizon", "Pilots", "Mirrors", "Owls",
    "Saints", "Circuits", "Tides", "Orchids", "Comets", "Strangers", "Foxes", "Waves",
    "Kites",
)  # fmt: skip
FIRST_NAMES: tuple[str, ...] = (
    "Ana", "Leo", "Maya", "Kenji", "Zoe", "Omar", "Ines", "Felix", "Nora", "Tariq",
    "Luca", "Yuna", "Sam", "Ada", "Mateo", "Lena", "Kofi", "Ivy", "Jonas", "Priya",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Reyes", "Novak", "Okafor", "Tanaka", "Berg", "Moreau", "Silva", "Kim", "Walsh",
    "Lindqvist", "Costa", "Ahmed", "Fischer", "Park", "Quinn", "Duarte", "Mensah", "Rossi",
)  # fmt: skip
TITLE_WORDS: tuple[str, ...] = (
    "Love", "Night", "Home", "Fire", "Rain", "Heart", "Summer", "Light", "Run", "Dream",
    "Gold", "Ocean", "City", "Shadow", "Stay", "Tonight", "Forever", "Alone", "Sky",
    "Storm", "Youth", "Glass", "Dust", "Echo",
)  # fmt: skip
