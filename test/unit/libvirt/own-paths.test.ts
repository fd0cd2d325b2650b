import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { withOwnPaths } from "../../../src/libvirt/own-paths.js";

const ORIGINAL = `<domain type='qemu'><name>web</name><devices>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/to/vda.qcow2'/><target dev='vda' bus='virtio'/></disk>
  <serial type='file'><source path='/var/log/web/serial.log'/><target port='0'/></serial>
  <console type='file'><source path='/var/log/web/serial.log'/><target type='serial' port='0'/></console>
  <serial type='pty'><log file='/var/log/web/pty.log' append='on'/><target port='1'/></serial>
  <serial type='unix'><source mode='bind' path='/run/web/console.sock'/><target port='2'/></serial>
  <serial type='unix'><source mode='connect' path='/run/hub.sock'/><target port='3'/></serial>
  <channel type='unix'><source mode='bind' path='/var/lib/libvirt/qemu/channel/target/web.agent'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  <graphics type='vnc' port='5901' autoport='no' websocket='5701' listen='127.0.0.1'/>
  <graphics type='spice'><listen type='socket' socket='/run/web/spice.sock'/></graphics>
  <interface type='network'><source network='default'/><target dev='web0'/></interface>
  <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='1' slot='0' function='0'/></source></hostdev>
  <memory model='nvdimm'><source><path>/srv/web.nvdimm</path></source><target><size unit='MiB'>64</size></target></memory>
  <filesystem type='mount'><source dir='/srv/share'/><target dir='share'/></filesystem>
</devices></domain>`;

describe("restore --define: per-domain paths of the new domain", () => {
  it("moves chardev files and listening sockets into --to, one new path per old one", async () => {
    const { xml } = await withOwnPaths(ORIGINAL, "/to");
    assert.equal(
      xml.match(/<source path="\/to\/serial\.log"\/>/g)?.length,
      2,
      "serial and its console twin",
    );
    assert.match(xml, /<log file="\/to\/pty\.log" append="on"\/>/);
    assert.match(xml, /<source mode="bind" path="\/to\/console\.sock"\/>/);
    assert.match(xml, /<source mode="connect" path="\/run\/hub\.sock"\/>/, "a client socket stays");
    assert.ok(!xml.includes("/var/log/web") && !xml.includes("/run/web"));
  });

  it("drops what libvirt names itself: the agent socket, graphics sockets and ports, tap names", async () => {
    const { xml } = await withOwnPaths(ORIGINAL, "/to");
    assert.match(xml, /<channel type="unix">\s*<source mode="bind"\/>/);
    assert.ok(!xml.includes("web.agent"));
    assert.match(xml, /<graphics type="vnc" autoport="yes" websocket="-1" listen="127.0.0.1"\/>/);
    assert.match(xml, /<listen type="socket"\/>/);
    assert.ok(!xml.includes("web0"));
  });

  it("leaves out host devices and nvdimm files, and says what stays shared", async () => {
    const { xml, warnings } = await withOwnPaths(ORIGINAL, "/to");
    assert.ok(!xml.includes("<hostdev") && !xml.includes("nvdimm"));
    assert.match(xml, /<disk type="file"/, "disks stay");
    assert.equal(warnings.length, 3, warnings.join("\n"));
    assert.match(warnings.join("\n"), /\/srv\/share \(<filesystem>\) is shared/);
  });

  it("rng egd, redirdev and smartcard sockets move; a hostdev NIC goes; a fixed vsock CID is made automatic", async () => {
    const xml = `<domain><devices>
      <interface type='network'><source network='default'/></interface>
      <interface type='hostdev' managed='yes'><source><address type='pci' domain='0' bus='2' slot='0' function='1'/></source></interface>
      <rng model='virtio'><backend model='egd' type='unix'><source mode='bind' path='/run/web/rng.sock'/></backend></rng>
      <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
      <redirdev bus='usb' type='unix'><source mode='bind' path='/run/web/usbredir.sock'/></redirdev>
      <smartcard mode='passthrough' type='unix'><source mode='bind' path='/run/web/card.sock'/></smartcard>
      <vsock model='virtio'><cid auto='no' address='3'/></vsock>
    </devices></domain>`;
    const { xml: out, warnings } = await withOwnPaths(xml, "/to");
    assert.ok(!out.includes("/run/web"), out);
    assert.match(
      out,
      /<backend model="egd" type="unix">\s*<source mode="bind" path="\/to\/rng\.sock"\/>/,
    );
    assert.match(out, /<backend model="random">\/dev\/urandom<\/backend>/);
    assert.match(
      out,
      /<redirdev bus="usb" type="unix">\s*<source mode="bind" path="\/to\/usbredir\.sock"\/>/,
    );
    assert.match(
      out,
      /<smartcard mode="passthrough" type="unix">\s*<source mode="bind" path="\/to\/card\.sock"\/>/,
    );
    assert.ok(!out.includes('type="hostdev"'), out);
    assert.match(out, /<interface type="network">/, "the other NIC stays");
    assert.match(out, /<cid auto="yes"\/>/);
    assert.ok(!out.includes('address="3"'), out);
    assert.deepEqual(warnings, [
      "host device interfaces (<interface type='hostdev'>) are left out",
    ]);
  });

  it("two files of one name in different folders get different names", async () => {
    const xml = `<domain><devices>
      <serial type='file'><source path='/a/log'/></serial><serial type='file'><source path='/b/log'/></serial>
    </devices></domain>`;
    const out = (await withOwnPaths(xml, "/to")).xml;
    assert.match(out, /path="\/to\/log"/);
    assert.match(out, /path="\/to\/log-2"/);
  });
});
