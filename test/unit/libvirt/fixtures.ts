/** A domain with a block disk, a qcow2 file, a cdrom without media and a raw file. */
export const BLOCK_XML = `<domain><name>d</name><devices>
  <disk type='block' device='disk'><driver name='qemu' type='raw' cache='none'/>
    <source dev='/dev/vg0/data'/><target dev='vdc' bus='virtio'/></disk>
  <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
    <source file='/img/vda.qcow2'/><target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
  <disk type='file' device='disk'><driver name='qemu' type='raw'/>
    <source file='/img/vdx.raw'/><target dev='vdx' bus='virtio'/></disk>
</devices></domain>`;
