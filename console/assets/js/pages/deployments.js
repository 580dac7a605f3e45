// The deployment list, newest first: what each rolls out, for which ticket, where it stands.

import { get } from "../api.js";
import { formatTime, h, replace, text } from "../dom.js";
import { selectableTable } from "../list.js";
import { countsLine, deploymentPill } from "./deploy-bits.js";

export const title = () => "Deployments";

export async function render(main, ctx) {
  const deployments = await get("/api/deployments");
  const holder = h("div", { class: "table-wrap" });
  const deployer = (ctx.me.roles || []).includes("deployer");
  replace(holder, selectableTable("Deployments", [
    { label: "#", class: "num", cell: (d) => h("a", { href: `/deployments/${d.id}` }, String(d.id)) },
    { label: "Package", class: "mono", cell: (d) => text(`${d.package}@${d.version}`, 80) },
    { label: "Ticket", class: "num", cell: (d) => h("a", { href: `/tickets/${d.ticket}` }, `#${d.ticket}`) },
    { label: "State", cell: (d) => deploymentPill(d.status) },
    { label: "Done", class: "num", cell: (d) => h("progress", { max: String(d.total || 1), value: String(d.done), title: `${d.done} of ${d.total}` }) },
    { label: "Devices", class: "grow", cell: (d) => h("span", { "data-counts": true }, `${d.done}/${d.total}: `, countsLine(d.counts)) },
    { label: "Created", class: "time", cell: (d) => formatTime(d.created_at) },
  ], deployments, (d) => ctx.navigate(`/deployments/${d.id}`)));
  main.append(
    h("div", { class: "toolbar" }, h("h1", {}, "Deployments"),
      h("span", { class: "muted" }, `${deployments.length} deployment${deployments.length === 1 ? "" : "s"}`),
      h("span", { class: "spacer" }),
      deployer ? h("a", { class: "button primary", href: "/deployments/new", id: "new-deployment" }, "New deployment") : null),
    holder);
}
