//! The web status page: one screen that names the cause, refreshed every second from
//! `/v1/status` of this node (what it knows of every member). The browser asks for the
//! credentials (HTTP basic authentication, `read` permission).

pub(crate) const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quorate status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
 h1{font-size:1.3em;margin:0 0 .3em} .ok{color:#0a7d27} .bad{color:#b00020} .warn{color:#a15c00}
 .badge{display:inline-block;padding:.15em .6em;border-radius:.8em;color:#fff;font-weight:600}
 .badge.ok{background:#0a7d27} .badge.bad{background:#b00020}
 table{border-collapse:collapse;margin-top:1em;min-width:60%} th,td{border-bottom:1px solid #ddd;padding:.35em .7em;text-align:left}
 th{background:#f4f4f4} code{background:#f4f4f4;padding:0 .3em} #err{color:#b00020}
</style></head><body>
<h1>quorate <span id="node"></span></h1>
<div id="summary">loading&hellip;</div>
<div id="warnings"></div>
<table><thead><tr><th>member</th><th>role</th><th>state</th><th>reachable</th><th>paths</th><th>replicated to</th><th>lag</th><th>last ack</th><th>http</th><th>mysql</th></tr></thead>
<tbody id="members"></tbody></table>
<p id="err"></p>
<script>
function esc(s){return String(s??"").replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]))}
function ago(ms){if(!ms)return"";const s=Math.round((Date.now()-ms)/1000);return s<60?s+"s ago":Math.round(s/60)+"m ago"}
async function fetchJson(u){const r=await fetch(u,{cache:"no-store"});return r.json()}
async function refresh(){
 try{
  const s=await fetchJson("/v1/status");
  document.getElementById("node").textContent="node "+s.node_id+" ("+s.state+", term "+s.term+")";
  const badge=s.writable?'<span class="badge ok">serving writes</span>':'<span class="badge bad">not serving writes</span>';
  document.getElementById("summary").innerHTML=badge+" leader: <b>"+(s.leader?("n"+s.leader):"none")+"</b> &middot; commit "+(s.commit_index??"-")+" &middot; applied "+(s.applied_index??"-")+
    (s.reason?'<div class="bad">'+esc(s.reason)+'</div>':"");
  document.getElementById("warnings").innerHTML=(s.warnings||[]).map(w=>'<div class="warn">'+esc(w)+'</div>').join("");
  const rows=[];
  for(const m of s.members){
   const st=m.id===s.node_id?{state:s.state}:{state:m.id===s.leader?"leader":(m.reachable?"":"unreachable")};
   const paths=m.paths.length?m.paths.map(p=>'<span class="'+(p.up?"ok":"bad")+'" title="'+esc(p.last_error)+'">'+esc(p.addr)+" "+(p.up?"up":"down")+" "+ago(p.since_ms)+'</span>').join("<br>"):"(this node)";
   rows.push("<tr><td>n"+m.id+"</td><td>"+m.role+"</td><td>"+esc(st.state)+"</td><td class='"+(m.reachable?"ok":"bad")+"'>"+(m.reachable?"yes":"no")+"</td><td>"+paths+
     "</td><td>"+(m.matched_index??"")+"</td><td>"+(m.lag??"")+"</td><td>"+(m.last_ack_ms!=null?m.last_ack_ms+" ms":"")+"</td><td><code>"+esc(m.http_addr)+"</code></td><td><code>"+esc(m.mysql_addr)+"</code></td></tr>");
  }
  document.getElementById("members").innerHTML=rows.join("");
  document.getElementById("err").textContent="";
 }catch(e){document.getElementById("err").textContent="cannot reach this node: "+e}
}
refresh();setInterval(refresh,1000);
</script></body></html>"##;
