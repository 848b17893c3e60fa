/* Add an integration: pick a connector, fill the form from its schema, then create it (or connect by OAuth). */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;
  var BASE = "/api/v1/integrations/";

  function connectorCard(info) {
    var flow = info.auth_flow === "oauth_popup" ? "Sign in with " + (info.provider || "the provider") : "Set up with a form";
    return ui.el("a", { className: "connector-card", href: "/integrations/new?type=" + encodeURIComponent(info.type), dataset: { type: info.type } }, [
      ui.typeIcon(info.type, info.display_name, true),
      ui.el("span", {}, [
        ui.el("span", { className: "title", text: info.display_name }),
        ui.el("span", { className: "desc", text: info.description }),
        ui.el("span", { className: "badge badge-plain", text: flow }),
      ]),
    ]);
  }

  function showPicker(registry) {
    var grid = ui.$("#connector-grid");
    registry.list.forEach(function (info) { grid.appendChild(connectorCard(info)); });
    ui.$("#picker").hidden = false;
  }

  function curlExample(body) {
    var lines = ["BODY='{\"text\":\"Deployment completed for v2.4.1\"}'"];
    var headers = "-H 'Content-Type: application/json'";
    if (body.signing_secret) {
      lines.push("SECRET='" + body.signing_secret + "'");
      lines.push("SIG=\"sha256=$(printf '%s' \"$BODY\" | openssl dgst -sha256 -hmac \"$SECRET\" | awk '{print $2}')\"");
      headers += " -H \"X-Knora-Signature: $SIG\"";
    }
    lines.push("curl -s -X POST " + headers + " \\\n  -d \"$BODY\" '" + body.webhook_url + "'");
    return lines.join("\n");
  }

  function copyRow(id, label, value) {
    var field = ui.el("input", { type: "text", id: id, readonly: true, value: value, spellcheck: "false" });
    return ui.el("div", { className: "field" }, [
      ui.el("label", { for: id, text: label }),
      ui.el("div", { className: "copy-row" }, [field, ui.copyButton(function () { return value; })]),
    ]);
  }

  /** What the 201 shows only once (a webhook's URL and secret), keyed off the fields it carries. */
  function showOnce(body) {
    var box = ui.clear(ui.$("#created"));
    box.appendChild(ui.el("h2", { text: "“" + body.name + "” is ready" }));
    var secretBox = ui.el("div", { className: "secret-box", id: "shown-once" });
    if (body.signing_secret) {
      secretBox.appendChild(ui.el("div", { className: "alert alert-warn", role: "status" }, [
        ui.el("strong", { text: "Copy the signing secret now: it is shown only this once." }),
        "If it is lost, delete this integration and add a new one.",
      ]));
    }
    if (body.webhook_url) secretBox.appendChild(copyRow("webhook-url", "Webhook URL", body.webhook_url));
    if (body.signing_secret) secretBox.appendChild(copyRow("signing-secret", "Signing secret", body.signing_secret));
    if (body.webhook_url && !body.signing_secret) {
      // The upstream signs its callbacks with its own scheme (Leena: its client secret): no Knora example.
      secretBox.appendChild(ui.el("p", {
        className: "help", id: "callback-url-help",
        text: "Give this URL to the upstream as its callback URL; it signs each callback with its own credentials.",
      }));
    }
    if (body.webhook_url && body.signing_secret) {
      var example = curlExample(body);
      secretBox.appendChild(ui.el("div", { className: "label", text: "Send a signed test payload" }));
      secretBox.appendChild(ui.el("pre", { className: "code", id: "curl-example", text: example }));
      secretBox.appendChild(ui.copyButton(function () { return example; }, "Copy example"));
    }
    box.appendChild(secretBox);
    box.appendChild(ui.el("div", { className: "actions" }, [
      ui.el("a", { className: "btn btn-primary", href: "/integrations/" + body.id, id: "go-to-integration", text: "Go to the integration" }),
    ]));
    ui.$("#form-card").hidden = true;
    box.hidden = false;
    ui.$("#new-subtitle").textContent = "Created.";
  }

  function created(body) {
    if (body.signing_secret || body.webhook_url) {
      showOnce(body);
      return;
    }
    ui.flash.set("ok", "Added “" + body.name + "”.");
    window.location.assign("/integrations/" + body.id);
  }

  /** For a destination, the organisation's sources it may publish; nothing to ask otherwise. */
  function sourceChoicesFor(connector, registry) {
    if (!T.SourcesPicker.applies(connector)) return Promise.resolve(null);
    return T.api("GET", BASE).then(function (body) { return T.sourceChoices(body.integrations, registry, null); });
  }

  function showForm(me, connector, config, sourceChoices) {
    ui.$("#new-title").textContent = "Add " + connector.display_name;
    ui.$("#new-subtitle").textContent = connector.data_description || connector.description;
    ui.$("#chosen").appendChild(ui.typeIcon(connector.type, connector.display_name, true));
    ui.$("#chosen").appendChild(ui.el("div", {}, [
      ui.el("strong", { text: connector.display_name }),
      ui.el("div", { className: "muted small", text: connector.description }),
    ]));
    var form = new T.SchemaForm(ui.$("#form-fields"), connector, { sourceChoices: sourceChoices });
    ui.$("#form-fields").appendChild(ui.el("h3", { className: "form-section", text: "Schedule" }));
    var schedule = new T.schedule.Fields(ui.$("#form-fields"), { destination: T.SourcesPicker.applies(connector) });
    var oauth = connector.auth_flow === "oauth_popup";
    var submit = ui.$("#submit-integration");
    var errorBox = ui.$("#form-error");
    var pendingId = null;
    if (oauth) {
      submit.textContent = "Connect with " + connector.display_name;
      ui.$("#form-fields").appendChild(ui.el("p", {
        className: "oauth-note",
        text: "You will sign in to " + connector.display_name + " in a pop-up window; Tributary never sees your password.",
      }));
    }
    ui.$("#form-card").hidden = false;

    var connectLabel = submit.textContent;
    var account = null;

    function fail(error) {
      submit.disabled = false;
      if (error.code === "NOT_FOUND" && pendingId) {
        // The pending record is gone (deleted meanwhile): the next press connects afresh.
        pendingId = null;
        submit.textContent = connectLabel;
      }
      var unplaced = error.code === "VALIDATION_ERROR" ? form.showErrors(error.details) : [];
      if (error.code === "VALIDATION_ERROR" && !unplaced.length) {
        errorBox.hidden = !pendingId;
        if (pendingId) {
          var text = "Connected as " + account + ". Correct the fields marked below, then press Finish.";
          ui.clear(errorBox).appendChild(ui.el("div", { className: "alert alert-ok", role: "status", id: "oauth-connected", text: text }));
        }
        return;
      }
      var alert = ui.errorAlert(error);
      unplaced.forEach(function (text) { alert.appendChild(ui.el("div", { text: text })); });
      ui.clear(errorBox).appendChild(alert);
      errorBox.hidden = false;
    }

    function post(values) {
      var body = { type: connector.type, name: values.name, config: values.config };
      var when = schedule.values();
      Object.keys(when).forEach(function (key) { body[key] = when[key]; });
      if (pendingId) body.pending_integration_id = pendingId;
      return T.api("POST", BASE, body).then(created, fail);
    }

    ui.$("#integration-form").addEventListener("submit", function (event) {
      event.preventDefault();
      errorBox.hidden = true;
      form.clearErrors();
      var values = form.values();
      if (!oauth || pendingId) {
        submit.disabled = true;
        post(values);
        return;
      }
      if (!values.name) {
        // Checked before the popup opens, so the person does not sign in twice.
        form.showErrors({ name: ["This field is required."] });
        return;
      }
      submit.disabled = true;
      T.connectWithPopup(connector.type, me.org_id, config.oauth_message_origin).then(function (message) {
        pendingId = message.integrationId;
        account = message.account;
        submit.textContent = "Finish";
        ui.clear(errorBox).appendChild(ui.el("div", { className: "alert alert-ok", role: "status", id: "oauth-connected", text: "Connected as " + message.account + "." }));
        errorBox.hidden = false;
        return post(form.values());
      }, function (error) {
        fail(error instanceof T.ApiError ? error : { code: "OAUTH_ERROR", message: error.message });
      });
    });
  }

  ui.start(function (me, config) {
    var type = new URLSearchParams(window.location.search).get("type");
    ui.connectors().then(function (registry) {
      if (!type) {
        showPicker(registry);
        return;
      }
      var connector = registry.byType[type];
      if (!connector) {
        ui.showError(ui.$("#page-error"), { code: "NOT_FOUND", message: "There is no connector of type “" + type + "”. Choose one from the list." });
        showPicker(registry);
        return;
      }
      return sourceChoicesFor(connector, registry).then(function (choices) {
        showForm(me, connector, config, choices);
      });
    }).catch(function (error) {
      ui.showError(ui.$("#page-error"), error);
    });
  });
})();
