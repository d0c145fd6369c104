// cratedig pages: post events and feedback for the current listener and refresh the
// affected list in place from the JSON API (no libraries, no inline script: the pages
// work without JavaScript, this file adds the live updates).
(function () {
  "use strict";
  var body = document.body;
  var user = body.dataset.user;
  var token = body.dataset.token;
  var home = document.querySelector(".home");
  var own = {};
  if (home && home.dataset.own) {
    try { own = JSON.parse(home.dataset.own); } catch (e) { own = {}; }
  }
  var cards = {};  // "g:"/"m:" + artist_id -> its card node, from the page or the API
  var thumbs = {};  // artist_id -> "up" / "down", given on this page

  function toast(text) {
    var el = document.getElementById("toast");
    el.textContent = text;
    el.className = "show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { el.className = ""; }, 2500);
  }

  function post(url, payload, keepalive) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-UI-Token": token },
      body: JSON.stringify(payload),
      keepalive: !!keepalive,
      credentials: "same-origin",
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.error ? data.error.message : r.statusText); }
        return data;
      });
    });
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json", "X-UI-Token": token },
                        credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      });
  }

  function sendEvent(fields, keepalive) {
    var event = Object.assign({ user_id: user, occurred_at: new Date().toISOString() }, fields);
    return post("/ui/events", event, keepalive);
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function artistUrl(id, src) {
    var q = "?user=" + encodeURIComponent(user) + (src ? "&src=" + encodeURIComponent(src) : "");
    return "/artists/" + encodeURIComponent(id) + q;
  }

  // -- the rendered page's artist cards, kept for re-rendering ---------------------
  document.querySelectorAll("li.item [data-thumb].pressed").forEach(function (b) {
    thumbs[b.closest("li.item").dataset.artist] = b.dataset.thumb;
  });
  function cardKey(id, gems) { return (gems ? "g:" : "m:") + id; }
  document.querySelectorAll("section.list li.item[data-artist]").forEach(function (li) {
    var card = li.querySelector(".card");
    var gems = li.closest("section.list").dataset.listType === "hidden_gems";
    if (card) { cards[cardKey(li.dataset.artist, gems)] = card.cloneNode(true); }
  });

  // -- explanations: the listener's own artists become links --------------------------
  function explanation(text) {
    var span = el("span", "why");
    var names = Object.keys(own).filter(Boolean).sort(function (a, b) { return b.length - a.length; });
    var rest = text || "";
    while (rest) {
      var best = -1, name = null;
      names.forEach(function (n) {
        var at = rest.indexOf(n);
        if (at >= 0 && (best < 0 || at < best)) { best = at; name = n; }
      });
      if (best < 0) { span.appendChild(document.createTextNode(rest)); break; }
      if (best > 0) { span.appendChild(document.createTextNode(rest.slice(0, best))); }
      var a = el("a", "own", name);
      a.href = artistUrl(own[name]);
      span.appendChild(a);
      rest = rest.slice(best + name.length);
    }
    return span;
  }

  function cardFromApi(info, gems) {
    var span = el("span", "card");
    if (gems) {
      var nUsers = Number(home.dataset.nUsers) || 1;
      var share = info.listeners / nUsers;
      var tier = share <= 0.02 ? "very rare" : share <= 0.10 ? "rare" : "niche";
      span.appendChild(el("span", "gem gem-" + tier.replace(" ", "-"),
                          tier.charAt(0).toUpperCase() + tier.slice(1)));
      span.appendChild(document.createTextNode(" "));
    }
    span.appendChild(el("span", "listeners",
                        info.listeners + " listener" + (info.listeners === 1 ? "" : "s")));
    (info.tags || []).slice(0, 3).forEach(function (t) {
      span.appendChild(document.createTextNode(" "));
      span.appendChild(el("span", "tag", t));
    });
    return span;
  }

  function itemNode(item, listId, gems) {
    var name = item.name || item.artist_id;
    var li = el("li", "item");
    li.dataset.artist = item.artist_id;
    var main = el("div", "item-main");
    var link = el("a", "artist-link", name);
    link.href = artistUrl(item.artist_id, listId);
    link.setAttribute("data-click", "");
    main.appendChild(link);
    main.appendChild(document.createTextNode(" "));
    var card = cards[cardKey(item.artist_id, gems)];
    main.appendChild(card ? card.cloneNode(true) : el("span", "card"));
    main.appendChild(document.createTextNode(" "));
    main.appendChild(explanation(item.explanation));
    li.appendChild(main);
    var actions = el("span", "actions");
    actions.setAttribute("role", "group");
    actions.setAttribute("aria-label", "Actions on " + name);
    [["follow-item", "Follow", "Follow " + name, "follow"],
     ["thumb", "\u25B2", "More like " + name, "up"],
     ["thumb", "\u25BC", "Less like " + name, "down"]].forEach(function (b) {
      var btn = el("button", b[0], b[1]);
      btn.type = "button";
      btn.setAttribute("aria-label", b[2]);
      btn.setAttribute("aria-pressed", "false");
      if (b[3] === "follow") { btn.setAttribute("data-follow", ""); } else { btn.dataset.thumb = b[3]; }
      if (thumbs[item.artist_id] === b[3]) { press(btn, true); }
      actions.appendChild(btn);
    });
    li.appendChild(actions);
    return li;
  }

  function fillCards(items, gems) {
    var missing = items.filter(function (i) { return !cards[cardKey(i.artist_id, gems)]; });
    return Promise.all(missing.map(function (i) {
      return getJSON("/api/v1/artists/" + encodeURIComponent(i.artist_id))
        .then(function (info) { cards[cardKey(i.artist_id, gems)] = cardFromApi(info, gems); })
        .catch(function () { /* the item shows without its card */ });
    }));
  }

  function names(section, ids) {
    return ids.map(function (id) {
      var a = section.querySelector("li.item[data-artist='" + CSS.escape(id) + "'] .artist-link");
      return a ? a.textContent : id;
    });
  }

  // Re-read one list from the API and replace it in place, marking what changed.
  function refreshList(section) {
    var type = section.dataset.listType;
    var n = Math.max(section.querySelectorAll("li.item").length, 10);
    var url = "/api/v1/users/" + encodeURIComponent(user) + "/recommendations?list=" +
      encodeURIComponent(type) + "&k=" + n;
    var gems = type === "hidden_gems";
    var before = Array.prototype.map.call(section.querySelectorAll("li.item"),
                                          function (li) { return li.dataset.artist; });
    return getJSON(url).then(function (data) {
      return fillCards(data.items, gems).then(function () { return data; });
    }).then(function (data) {
      var after = data.items.map(function (i) { return i.artist_id; });
      var added = after.filter(function (a) { return before.indexOf(a) < 0; });
      var left = before.filter(function (a) { return after.indexOf(a) < 0; });
      var leftNames = names(section, left);
      var ol = section.querySelector("ol.items");
      var fresh = document.createElement("ol");
      fresh.className = "items";
      data.items.forEach(function (item) {
        var li = itemNode(item, data.list_id, gems);
        if (added.indexOf(item.artist_id) >= 0) { li.classList.add("new"); }
        fresh.appendChild(li);
      });
      ol.replaceWith(fresh);
      section.dataset.listId = data.list_id;
      var cue = section.querySelector(".changes");
      var words = [];
      if (added.length) {
        words.push("New: " + data.items.filter(function (i) { return added.indexOf(i.artist_id) >= 0; })
          .map(function (i) { return i.name || i.artist_id; }).join(", "));
      }
      if (leftNames.length) { words.push("Left: " + leftNames.join(", ")); }
      cue.textContent = words.length ? words.join(". ") + "." : "No change to this list.";
      cue.classList.add("show");
      section.classList.remove("updated");
      void section.offsetWidth;  // restart the highlight animation
      section.classList.add("updated");
      return { added: added, left: left };
    }).catch(function (err) {
      toast("Could not refresh the list (" + err.message + "); reload to see it.");
    });
  }

  function refreshAll() {
    var sections = document.querySelectorAll(".home section.list[data-list-type]");
    return Promise.all(Array.prototype.map.call(sections, refreshList));
  }

  // The recent-listening panel: the event just stored joins it.
  function noteRecent(artistId, name, words, negative) {
    var panel = document.getElementById("recent");
    if (!panel) { return; }
    var ul = panel.querySelector("ul.recent-items");
    var empty = panel.querySelector(".empty");
    if (empty) { empty.remove(); }
    var existing = ul.querySelector("li[data-artist='" + CSS.escape(artistId) + "']");
    if (existing) { existing.remove(); }
    var li = el("li", "recent-item new" + (negative ? " negative" : ""));
    li.dataset.artist = artistId;
    var a = el("a", "", name);
    a.href = artistUrl(artistId);
    li.appendChild(a);
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("span", "summary", words));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(el("time", "when", "just now"));
    ul.insertBefore(li, ul.firstChild);
  }

  // The picker opens /users/<id> directly (the form also works without JavaScript).
  var picker = document.querySelector("form.picker");
  if (picker) {
    picker.addEventListener("submit", function (e) {
      e.preventDefault();
      location.href = "/users/" + encodeURIComponent(picker.elements.user.value.trim());
    });
  }

  function press(el, on) {
    el.classList.toggle("pressed", on);
    el.setAttribute("aria-pressed", on ? "true" : "false");
  }

  document.addEventListener("click", function (e) {
    var el = e.target.closest("button, a[data-click]");
    if (!el || !user || !token) { return; }
    var list = el.closest("[data-list-id]");
    var item = el.closest("[data-artist]");

    if (el.dataset.thumb) {
      post("/ui/feedback", {
        user_id: user, list_id: list.dataset.listId, artist_id: item.dataset.artist,
        thumb: el.dataset.thumb,
      }).then(function () {
        item.querySelectorAll("[data-thumb]").forEach(function (b) { press(b, b === el); });
        thumbs[item.dataset.artist] = el.dataset.thumb;
        toast("Thanks for the feedback");
        if (home) { refreshList(list); }
      }).catch(function (err) { toast(err.message); });
    } else if (el.dataset.rating) {
      post("/ui/feedback", {
        user_id: user, list_id: list.dataset.listId, rating: Number(el.dataset.rating),
      }).then(function () {
        list.querySelectorAll("[data-rating]").forEach(function (b) { press(b, b === el); });
        toast("Rated " + el.dataset.rating + "/5");
        if (home) { refreshList(list); }
      }).catch(function (err) { toast(err.message); });
    } else if (el.hasAttribute("data-follow") && item) {
      var on = el.getAttribute("aria-pressed") === "true";
      var name = item.querySelector(".artist-link").textContent;
      sendEvent({ event_type: on ? "unfollow_artist" : "follow_artist",
                  artist_id: item.dataset.artist, source: list.dataset.listId })
        .then(function () {
          press(el, !on);
          el.textContent = on ? "Follow" : "Following";
          if (!on) { own[name] = item.dataset.artist; }
          noteRecent(item.dataset.artist, name, on ? "unfollowed" : "followed", on);
          toast(on ? "Unfollowed " + name : "Following " + name);
          return refreshAll();
        }).catch(function (err) { toast(err.message); });
    } else if (el.dataset.click !== undefined && list && item) {
      // A click from a recommendation list; the navigation goes on while it is sent.
      sendEvent({ event_type: "recommendation_click", artist_id: item.dataset.artist,
                  source: list.dataset.listId }, true);
    } else if (el.dataset.event) {
      var artist = document.querySelector("article.artist");
      var track = el.closest("[data-track]");
      var fields = { event_type: el.dataset.event, artist_id: artist.dataset.artist,
                     track_id: track.dataset.track, source: artist.dataset.source };
      if (el.dataset.event === "play_track") { fields.duration_ms = Number(track.dataset.duration); }
      sendEvent(fields).then(function () {
        el.classList.add("pressed");
        toast("Saved: " + el.getAttribute("aria-label"));
      }).catch(function (err) { toast(err.message); });
    } else if (el.id === "follow") {
      var art = document.querySelector("article.artist");
      var following = el.dataset.following === "true";
      sendEvent({ event_type: following ? "unfollow_artist" : "follow_artist",
                  artist_id: art.dataset.artist, source: art.dataset.source })
        .then(function () {
          el.dataset.following = following ? "false" : "true";
          el.setAttribute("aria-pressed", following ? "false" : "true");
          el.textContent = following ? "Follow" : "Unfollow";
          var rel = document.getElementById("relation-text");
          if (rel) {
            rel.textContent = following ? "You unfollowed this artist just now."
                                        : "You follow this artist since just now.";
          }
          toast(following ? "Unfollowed" : "Following");
        }).catch(function (err) { toast(err.message); });
    }
  });
})();
