// Sort a table[data-sortable] in place when a column's sort link is used; without this the link reloads the
// page sorted on the server. Cells give their sort value in data-sort.
document.addEventListener("click", function (event) {
  var link = event.target.closest("table[data-sortable] th a[data-column]");
  if (!link) return;
  event.preventDefault();
  var th = link.closest("th"), table = th.closest("table"), body = table.tBodies[0];
  var index = Array.prototype.indexOf.call(th.parentNode.children, th);
  var numeric = th.hasAttribute("data-numeric"), current = th.getAttribute("aria-sort");
  // as the server's links do: flip the sorted column; a new one starts with the largest numbers, or from A
  var ascending = current === "none" ? !numeric : current !== "ascending";
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = a.cells[index].getAttribute("data-sort"), y = b.cells[index].getAttribute("data-sort");
    var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
    return ascending ? order : -order;
  });
  rows.forEach(function (row) { body.appendChild(row); });
  Array.prototype.forEach.call(th.parentNode.children, function (cell) { cell.setAttribute("aria-sort", "none"); });
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
});
