/*
 * gallery_priv.h - what other parts of the library (keys.c) may reach inside a gallery: its
 * store, under the gallery's store mutex (the store connection serves one thread at a time).
 */
#ifndef FACET_GALLERY_PRIV_H
#define FACET_GALLERY_PRIV_H

#include "facet/gallery.h"
#include "store/store.h"

/* Takes the store mutex and returns the store. */
facet_store *facet_gallery_store_lock(facet_gallery *g);
/* Releases it; a nonzero `status` records the store's message on the handle and this
 * thread's last error. Returns `status`. */
int facet_gallery_store_unlock(facet_gallery *g, int status);

#endif
