// cratedig pages: post events and feedback for the current listener (no libraries).
(function () {
  "use strict";
  var body = document.body;
  var user = body.dataset.user;
  var token = body.dataset.token;

  function toast(text) {
    var el = document.getElementById("toast");
    el.textContent = text;
    el.className = "show";
    setTimeout(function () { el.className = ""; }, 1500);
  }

  function post(url, payload, keepalive) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-UI-Token": token },
      body: JSON.stringify(payload),
      keepalive: !!keepalive,
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.error ? data.error.message : r.statusText); }
        return data;
      });
    });
  }

  function sendEvent(fields, keepalive) {
    var event = Object.assign({ user_id: user, occurred_at: new Date().toISOString() }, fields);
    return post("/ui/events", event, keepalive);
  }

  // The user picker opens /users/<id> (no inline script: the CSP allows none).
  var picker = document.querySelector("form.picker");
  if (picker) {
    picker.addEventListener("submit", function (e) {
      e.preventDefault();
      location.href = "/users/" + encodeURIComponent(picker.elements.user.value);
    });
  }

  function listOf(el) { return el.closest("[data-list-id]"); }

  document.addEventListener("click", function (e) {
    var el = e.target.closest("button, a[data-click]");
    // Without a page session (no login, not demo mode) the page is read-only.
    if (!el || !user || !token) { return; }
    var list = listOf(el);
    var item = el.closest("[data-artist]");

    if (el.dataset.thumb) {
      post("/ui/feedback", {
        user_id: user, list_id: list.dataset.listId, artist_id: item.dataset.artist,
        thumb: el.dataset.thumb,
      }).then(function () {
        el.classList.add("pressed");
        el.setAttribute("aria-pressed", "true");
        toast("Thanks for the feedback");
      }).catch(function (err) { toast(err.message); });
    } else if (el.dataset.rating) {
      post("/ui/feedback", {
        user_id: user, list_id: list.dataset.listId, rating: Number(el.dataset.rating),
      }).then(function () {
        list.querySelectorAll("[data-rating]").forEach(function (b) { b.classList.remove("pressed"); });
        el.classList.add("pressed");
        toast("Rated " + el.dataset.rating + "/5");
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
      sendEvent(fields).then(function () { toast("Saved: " + el.textContent); })
        .catch(function (err) { toast(err.message); });
    } else if (el.id === "follow") {
      var art = document.querySelector("article.artist");
      var following = el.dataset.following === "true";
      sendEvent({ event_type: following ? "unfollow_artist" : "follow_artist",
                  artist_id: art.dataset.artist, source: art.dataset.source })
        .then(function () {
          el.dataset.following = following ? "false" : "true";
          el.textContent = following ? "Follow" : "Unfollow";
          toast(following ? "Unfollowed" : "Following");
        }).catch(function (err) { toast(err.message); });
    }
  });
})();
