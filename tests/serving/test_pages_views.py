"""The pages' view models: tags and listeners, Hidden Gem rarity, explanations with
links, the recent-listening panel, the listener's relation to an artist, stored
thumbs, the admin table, and reading without JavaScript."""

from __future__ import annotations

import re
import time

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from cratedig.serving import sessions
from cratedig.serving.auth import secret
from cratedig.serving.page_views import gem_tier, link_names
from cratedig.store.schema import artist_tags
from cratedig.store.writes import insert_ignore
from tests.serving.conftest import KEY


def _html(client: FlaskClient, url: str) -> str:
    r = client.get(url, headers={"Accept": "text/html", "X-API-Key": KEY})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_data(as_text=True)


def _post(app: Flask, client: FlaskClient, url: str, body: dict) -> None:
    with app.test_request_context():  # a site login's session for the user
        token = sessions.issue(secret(), body["user_id"])
    r = client.post(url, json=body, headers={"X-UI-Token": token})
    assert r.status_code == 201, r.get_json()


def test_link_names_links_the_listeners_artists_longest_first() -> None:
    names = {"Wild": "a1", "Wild Rivers": "a2", "Owls": "a3"}
    parts = link_names("because you listen to Wild Rivers and Owls", names)
    assert parts == [
        ("because you listen to ", None),
        ("Wild Rivers", "a2"),
        (" and ", None),
        ("Owls", "a3"),
    ]
    assert link_names("popular on the site", {}) == [("popular on the site", None)]
    assert link_names("a.b (c)", {"(c)": "x"})[-1] == ("(c)", "x")  # names are not regexes


def test_gem_tiers_follow_the_share_of_listeners() -> None:
    assert gem_tier(5, 1000) == "very rare"
    assert gem_tier(50, 1000) == "rare"
    assert gem_tier(500, 1000) == "niche"
    assert gem_tier(0, None) == "very rare"


def test_home_shows_tags_listeners_gems_and_own_artist_links(
    client: FlaskClient, store: Engine
) -> None:
    with store.begin() as conn:
        insert_ignore(conn, artist_tags, [{"artist_id": "r5", "tag": "post-rock", "weight": 1.0}])
    html = _html(client, "/users/u01")
    item = re.search(r'<li class="item" data-artist="r5">.*?</li>', html, re.S)
    assert item is not None
    assert '<span class="tag">post-rock</span>' in item.group(0)
    assert re.search(r'<span class="listeners">\d+ listeners?</span>', item.group(0))
    gems = html[html.index('data-list-type="hidden_gems"') :]
    assert 'class="gem gem-' in gems
    assert "Your recent listening" in html and "Nothing yet" in html


def test_a_follow_shows_in_recent_listening_and_on_the_artist_page(
    app: Flask, client: FlaskClient
) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = {"user_id": "u01", "event_type": "follow_artist", "artist_id": "j1", "occurred_at": now}
    _post(app, client, "/ui/events", event)
    html = _html(client, "/users/u01")
    panel = html[html.index('id="recent"') :]
    assert 'data-artist="j1"' in panel and "followed" in panel
    # the explanation of j1's neighbours names j1 as a link to its page
    assert re.search(r'<a class="own" href="/artists/j1\?user=u01">Artist J1</a>', html)
    artist = _html(client, "/artists/j1?user=u01")
    assert "You followed since" in artist and 'data-following="true"' in artist
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5))
    _post(
        app, client, "/ui/events", {**event, "event_type": "unfollow_artist", "occurred_at": later}
    )
    artist = _html(client, "/artists/j1?user=u01")
    assert 'data-following="false"' in artist and "You unfollowed them." in artist


def test_relation_counts_plays(client: FlaskClient) -> None:
    html = _html(client, "/artists/r1?user=u01")
    assert "You played 1 track (3 plays)." in html
    assert "You have not listened to this artist yet." in _html(client, "/artists/j3?user=u01")


def test_thumbs_and_ratings_are_shown_after_a_reload(app: Flask, client: FlaskClient) -> None:
    html = _html(client, "/users/u01")
    list_id = re.search(r'data-list-id="(L[0-9a-f]+)" data-list-type="may_like"', html)
    assert list_id is not None
    _post(
        app,
        client,
        "/ui/feedback",
        {"user_id": "u01", "list_id": list_id.group(1), "artist_id": "r5", "thumb": "down"},
    )
    _post(app, client, "/ui/feedback", {"user_id": "u01", "list_id": list_id.group(1), "rating": 2})
    app.extensions["cratedig"].impressions.flush()
    html = _html(client, "/users/u01")
    item = re.search(r'<li class="item" data-artist="r5">.*?</li>', html, re.S)
    assert item is not None
    assert re.search(r'class="thumb pressed" data-thumb="down" aria-pressed="true"', item.group(0))
    may_like = html[: html.index('data-list-type="hidden_gems"')]
    assert re.search(r'data-rating="2" class="pressed" aria-pressed="true"', may_like)


def test_admin_has_metric_columns_and_the_rest_on_demand(client: FlaskClient) -> None:
    html = _html(client, "/admin")
    head = html[html.index("<thead>") : html.index("</thead>")]
    assert '<th scope="col" class="num">ndcg@10</th>' in head
    assert "<details>" in html and "All metrics" in html
    assert 'aria-label="Admin"' in html


def test_the_picker_form_works_without_javascript(client: FlaskClient) -> None:
    r = client.get("/?user=u01")
    assert r.status_code == 302 and r.headers["Location"].endswith("/users/u01")


def test_pages_have_no_inline_script_or_style(client: FlaskClient) -> None:
    for url in ("/", "/users/u01", "/artists/r1?user=u01", "/admin"):
        html = _html(client, url)
        assert "<script>" not in html and " style=" not in html and "onclick" not in html, url
        assert len(re.findall(r"<script ", html)) == 1, url  # app.js only
