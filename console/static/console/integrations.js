/* The integrations table with the plan's usage; an admin at the limit sees why "Add" is disabled. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;

  function usage(me, total) {
    var plan = me.plan;
    var limit = plan.max_integrations;
    var text = ui.clear(ui.$("#usage-text"));
    var meter = ui.$("#usage-meter");
    if (limit === null || limit === undefined) {
      text.appendChild(ui.el("strong", { text: total + (total === 1 ? " integration" : " integrations") }));
      text.appendChild(document.createTextNode(" · " + plan.name + " plan, no limit"));
      meter.hidden = true;
    } else {
      text.appendChild(ui.el("strong", { text: total + " of " + limit + " integrations" }));
      text.appendChild(document.createTextNode(" · " + plan.name + " plan"));
      meter.firstElementChild.style.width = Math.min(100, Math.round((100 * total) / Math.max(limit, 1))) + "%";
      meter.classList.toggle("full", total >= limit);
    }
    ui.$("#usage").hidden = false;
    var reason = null;
    if (me.subscription_required) {
      reason = "Adding integrations is paused while the subscription is inactive.";
    } else if (limit !== null && limit !== undefined && total >= limit) {
      reason = "The " + plan.name + " plan allows " + limit + (limit === 1 ? " integration" : " integrations") +
        ". Delete one or upgrade the plan to add more.";
    }
    var add = ui.$("#add-integration");
    if (reason) {
      add.setAttribute("aria-disabled", "true");
      add.removeAttribute("href");
      add.title = reason;
      var note = ui.$("#limit-note");
      note.textContent = reason;
      note.hidden = !ui.roleAtLeast(me.role, "admin");
    }
    return reason;
  }

  function row(integration, registry) {
    var info = registry.byType[integration.type];
    var label = info ? info.display_name : integration.type;
    return ui.el("tr", { dataset: { integrationId: integration.id } }, [
      ui.el("td", {}, [ui.el("div", { className: "name-cell" }, [
        ui.typeIcon(integration.type, label),
        ui.el("a", { className: "name", href: "/integrations/" + integration.id, text: integration.name }),
      ])]),
      ui.el("td", { dataset: { label: "Type" }, text: label }),
      ui.el("td", { dataset: { label: "Status" } }, [ui.badge(integration.status)]),
      ui.el("td", { dataset: { label: "Last sync" } }, [ui.timeNode(integration.last_sync_at)]),
      ui.el("td", { className: "schedule", dataset: { label: "Schedule" }, text: T.schedule.text(integration) }),
    ]);
  }

  ui.start(function (me) {
    if (!ui.roleAtLeast(me.role, "manager")) {
      // A member's console is the knowledge base; the API would refuse the integrations list.
      window.location.replace("/knowledge");
      return;
    }
    Promise.all([T.api("GET", "/api/v1/integrations/"), ui.connectors()]).then(function (results) {
      var body = results[0];
      var registry = results[1];
      ui.$("#loading").hidden = true;
      var reason = usage(me, body.total);
      if (!body.integrations.length) {
        var add = ui.roleAtLeast(me.role, "admin") && !reason
          ? ui.el("a", { className: "btn btn-primary", href: "/integrations/new", text: "Add your first integration" })
          : null;
        var text = "Connect a system such as a webhook or a wiki, and what it holds lands in your knowledge base.";
        ui.$("#integrations-empty").appendChild(ui.emptyState("No integrations yet", text, add));
        ui.$("#integrations-empty").hidden = false;
        return;
      }
      var tbody = ui.$("#integrations-table tbody");
      body.integrations.forEach(function (integration) { tbody.appendChild(row(integration, registry)); });
      ui.$("#integrations-table").hidden = false;
    }, function (error) {
      ui.$("#loading").hidden = true;
      ui.showError(ui.$("#page-error"), error);
    });
  });
})();
