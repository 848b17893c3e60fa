/* The OAuth popup: GET /oauth/start, open auth_url, wait for the callback page's knora:oauth:* message. */
(function () {
  "use strict";

  var T = window.Tributary;

  /**
   * Must be called from a click handler, so the browser allows the window. Resolves with the success
   * message ({type, connector, account, integrationId}); rejects with an Error whose message is for people.
   */
  function connectWithPopup(connectorType, orgId, expectedOrigin) {
    // Opened at once, before any await, or a popup blocker would refuse it.
    var popup = window.open("about:blank", "tributary-oauth", "width=560,height=720");
    if (!popup) return Promise.reject(new Error("The sign-in window was blocked. Allow pop-ups for this site and try again."));
    return new Promise(function (resolve, reject) {
      var finished = false;
      var closedPoll = null;

      function finish(callback, value) {
        if (finished) return;
        finished = true;
        window.removeEventListener("message", onMessage);
        window.clearInterval(closedPoll);
        callback(value);
      }

      function onMessage(event) {
        // Only the callback page, served from the API's origin, may report the result.
        if (event.origin !== expectedOrigin) return;
        var data = event.data;
        if (!data || typeof data !== "object" || typeof data.type !== "string" || data.type.indexOf("knora:oauth:") !== 0) return;
        if (data.connector && data.connector !== connectorType) return;
        if (data.type === "knora:oauth:success" && data.integrationId) finish(resolve, data);
        else finish(reject, new Error(String(data.error || "The connection failed.")));
      }

      window.addEventListener("message", onMessage);
      closedPoll = window.setInterval(function () {
        // Give a message posted just before closing the time to arrive.
        if (popup.closed) window.setTimeout(function () {
          finish(reject, new Error("The sign-in window was closed before the connection finished."));
        }, 500);
      }, 400);

      var query = "?connector=" + encodeURIComponent(connectorType) + "&org_id=" + encodeURIComponent(orgId);
      T.api("GET", "/api/v1/integrations/oauth/start" + query).then(function (body) {
        if (!finished) popup.location.href = body.auth_url;
      }, function (error) {
        popup.close();
        finish(reject, error);
      });
    });
  }

  T.connectWithPopup = connectWithPopup;
})();
