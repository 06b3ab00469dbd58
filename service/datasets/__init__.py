"""Datasets uploaded over HTTP (POST /datasets/{name}), kept in the data root:

    <GAN_DATA_ROOT>/uploads/
        .incoming-<uuid>/      one upload being received and checked (never listed)
        .deleting-<uuid>/      one dataset being removed (never listed)
        <name>/images/...      an archive's PNG/JPEG images, one sub-folder per class if given
        <name>/data.npz        or an array (.npz, optionally with 'y' and 'classes')
        <name>/data.npy        or a bare array
        <name>/manifest.json   written last, then the folder is renamed into place

A job trains on `folder:uploads/<name>/images` or `npz:uploads/<name>/data.npz` (`.npy`), the
`spec` of the manifest. Every upload is checked with the loader training uses before it is
published, so what is listed is what a job can train on.
"""
