/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Disk faults: which file an operation is on, and whether it lies under one
 * of an experiment's path= filters. */
#ifndef FL_BPF_FILE_H
#define FL_BPF_FILE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "faultline/abi.h"
#include "maps.h"
#include "match.h"

/* The few kernel fields read here, by CO-RE (relocated by name against the
 * running kernel's BTF; the ___fl suffix keeps them apart from any header's
 * definitions). */
struct vfsmount___fl {
	struct dentry___fl *mnt_root;
} __attribute__((preserve_access_index));

struct path___fl {
	struct vfsmount___fl *mnt;
	struct dentry___fl *dentry;
} __attribute__((preserve_access_index));

struct super_block___fl {
	__u32 s_dev;
} __attribute__((preserve_access_index));

struct inode___fl {
	__u16 i_mode;
	struct super_block___fl *i_sb;
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct dentry___fl {
	struct dentry___fl *d_parent;
	struct inode___fl *d_inode;
} __attribute__((preserve_access_index));

struct file___fl {
	struct path___fl f_path;
	struct inode___fl *f_inode;
} __attribute__((preserve_access_index));

/* A mount: its vfsmount is embedded; mnt_parent/mnt_mountpoint say where it
 * is mounted (the namespace's root mount is its own parent). */
struct mount___fl {
	struct mount___fl *mnt_parent;
	struct dentry___fl *mnt_mountpoint;
	struct vfsmount___fl mnt;
} __attribute__((preserve_access_index));

/* fsync(2)'s file: from the fd in its first argument (x86-64: di), through
 * the calling task's file table. */
struct pt_regs___fl {
	unsigned long di;
} __attribute__((preserve_access_index));

struct fdtable___fl {
	unsigned int max_fds;
	struct file___fl **fd;
} __attribute__((preserve_access_index));

struct files_struct___fl {
	struct fdtable___fl *fdt;
} __attribute__((preserve_access_index));

struct task_struct___fl {
	struct files_struct___fl *files;
} __attribute__((preserve_access_index));

static __always_inline __u64 fl_fd_file(__u64 regs)
{
	struct task_struct___fl *t = (struct task_struct___fl *)bpf_get_current_task();
	struct fdtable___fl *fdt = BPF_CORE_READ(t, files, fdt);
	unsigned int fd = (unsigned int)BPF_CORE_READ((struct pt_regs___fl *)regs, di);
	struct file___fl **fds;
	__u64 f = 0;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

#define FL_S_IFMT 00170000
#define FL_S_IFREG 0100000

static __always_inline int fl_is_regular(const struct file___fl *f)
{
	__u16 mode = BPF_CORE_READ(f, f_inode, i_mode);

	return (mode & FL_S_IFMT) == FL_S_IFREG;
}

/* Is the file a regular one (or any_file), and, if the experiment has
 * path= filters, is it or a directory above it one of slot's path= inodes?
 * Walks dentries up to the root of each file system and on through the
 * mount points of the file's mount namespace: at most FL_PATH_DEPTH steps,
 * so a file deeper than that below the named directory is not matched
 * (README says so). Only a target's events get here. Global: verified once.
 * Cost per step: three reads (d_inode, i_ino, d_parent) and a map lookup;
 * the device (the superblock's) and the mount's root are read once per
 * mount, since every dentry of a mount is on its superblock. */
__noinline int fl_file_g(__u64 file, __u32 any_file, __u32 slot, __u32 n_paths)
{
	const struct file___fl *f = (const struct file___fl *)file;
	struct dentry___fl *d, *root, *parent;
	struct vfsmount___fl *vm;
	struct mount___fl *m, *mp;
	struct fl_path_key k = {.slot = slot};
	__u64 moff = bpf_core_field_offset(struct mount___fl, mnt);
	int i;

	if (!f)
		return 0;
	if (!any_file && !fl_is_regular(f))
		return 0;
	if (!n_paths)
		return 1;
	d = BPF_CORE_READ(f, f_path.dentry);
	vm = BPF_CORE_READ(f, f_path.mnt);
	m = (struct mount___fl *)((__u64)vm - moff);
	/* No flag for "new mount": the verifier would have to tell its values
	 * apart at every step (it refused such a loop as too complex). */
	root = BPF_CORE_READ(vm, mnt_root);
	k.dev = BPF_CORE_READ(d, d_inode, i_sb, s_dev);
	for (i = 0; i < FL_PATH_DEPTH; i++) {
		struct inode___fl *ino = BPF_CORE_READ(d, d_inode);

		if (!ino)
			return 0;
		k.ino = BPF_CORE_READ(ino, i_ino);
		if (bpf_map_lookup_elem(&fl_paths, &k))
			return 1;
		if (d == root) {
			/* the root of this mount: go on where it is mounted */
			mp = BPF_CORE_READ(m, mnt_parent);
			if (!mp || mp == m)
				return 0;
			d = BPF_CORE_READ(m, mnt_mountpoint);
			m = mp;
			vm = (struct vfsmount___fl *)((__u64)m + moff);
			root = BPF_CORE_READ(vm, mnt_root);
			k.dev = BPF_CORE_READ(d, d_inode, i_sb, s_dev);
			continue;
		}
		parent = BPF_CORE_READ(d, d_parent);
		if (!parent || parent == d)
			return 0;
		d = parent;
	}
	return 0;
}

/* The filters of a disk experiment (experiment.ops, any_file, n_paths). */
static __always_inline int fl_file_match(const struct fl_experiment *e, __u32 slot,
					 const struct fl_event *ev)
{
	if (!(e->ops & ev->op))
		return 0;
	return fl_file_g(ev->file, e->any_file, slot, e->n_paths);
}

#endif /* FL_BPF_FILE_H */
