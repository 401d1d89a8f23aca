/*-------------------------------------------------------------------------
 *
 * rowcount.c
 *		The exact number of rows in one table, read through its heap pages
 *		or the leaf pages of one of its btree indexes; the cleanup
 *		(retention.c) counts a partition this way just before dropping it.
 *
 * The caller keeps writers and VACUUM out of the table (ShareLock or
 * stronger) while it is counted.  This module calls only util.c.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/rowcount.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "storage/bufmgr.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "sipcall.h"

static int64 count_page(Relation rel, BlockNumber blkno, Snapshot snapshot,
						BufferAccessStrategy strategy);
static Oid	smallest_full_index(Relation rel);
static int64 count_rows_by_index(Relation rel, Oid indexid, Snapshot snapshot,
								 BufferAccessStrategy strategy);

/*
 * The rows of one heap page that snapshot sees.  On a page the visibility
 * map (here, the page's own flag) knows to be all-visible, that is every
 * normal line pointer, without looking at the tuples.
 */
static int64
count_page(Relation rel, BlockNumber blkno, Snapshot snapshot,
		   BufferAccessStrategy strategy)
{
	Buffer		buf;
	Page		page;
	OffsetNumber off;
	OffsetNumber maxoff;
	bool		all_visible;
	int64		rows = 0;

	buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (!PageIsNew(page))
	{
		all_visible = PageIsAllVisible(page) && !snapshot->takenDuringRecovery;
		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off))
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTupleData tuple;

			if (!ItemIdIsNormal(lp))
				continue;
			if (all_visible)
			{
				rows++;
				continue;
			}
			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple.t_len = ItemIdGetLength(lp);
			tuple.t_tableOid = RelationGetRelid(rel);
			ItemPointerSet(&tuple.t_self, blkno, off);
			if (HeapTupleSatisfiesVisibility(&tuple, snapshot, buf))
				rows++;
		}
	}
	UnlockReleaseBuffer(buf);
	return rows;
}

/*
 * The smallest btree index of rel that has an entry for every row: valid,
 * ready and not partial.  InvalidOid when there is none.
 */
static Oid
smallest_full_index(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			best = InvalidOid;
	BlockNumber best_blocks = InvalidBlockNumber;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		BlockNumber nblocks;

		if (index->rd_rel->relam == BTREE_AM_OID &&
			index->rd_index->indisvalid &&
			index->rd_index->indisready &&
			index->rd_index->indislive &&
			RelationGetIndexPredicate(index) == NIL)
		{
			nblocks = RelationGetNumberOfBlocks(index);
			if (!OidIsValid(best) || nblocks < best_blocks)
			{
				best = RelationGetRelid(index);
				best_blocks = nblocks;
			}
		}
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	return best;
}

/*
 * Count rel's rows through the leaf pages of one of its full btree
 * indexes, which are far smaller than the heap (a deduplicated btree
 * holds a fraction of the heap's bytes).  An entry pointing into a
 * heap page the visibility map marks all-visible is a row every snapshot
 * sees: on such a page every tuple is visible to all, and each has exactly
 * one entry (a HOT chain there has one member).  Entries pointing anywhere
 * else are not counted; their heap pages are instead counted one by one,
 * tuple by tuple, as count_page does.
 *
 * The caller holds a lock that keeps writers and VACUUM out (ShareLock or
 * stronger), so neither the index nor the visibility map changes under
 * the walk; concurrent readers may only set hint bits.  The index is read
 * in physical order: every leaf page, whatever the tree's shape.
 */
static int64
count_rows_by_index(Relation rel, Oid indexid, Snapshot snapshot,
					BufferAccessStrategy strategy)
{
	Relation	index = index_open(indexid, AccessShareLock);
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber blkno;
	Buffer		vmbuf = InvalidBuffer;
	BlockNumber last_heap = InvalidBlockNumber;
	bool		last_visible = false;
	Bitmapset  *recheck = NULL;
	int64		rows = 0;
	int			b;

	/* block 0 is the metapage */
	for (blkno = BTREE_METAPAGE + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		BTPageOpaque opaque;
		OffsetNumber off;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		opaque = BTPageGetOpaque(page);
		if (PageIsNew(page) || !P_ISLEAF(opaque) || P_IGNORE(opaque))
		{
			UnlockReleaseBuffer(buf);
			continue;
		}
		maxoff = PageGetMaxOffsetNumber(page);
		for (off = P_FIRSTDATAKEY(opaque); off <= maxoff; off = OffsetNumberNext(off))
		{
			IndexTuple	itup = (IndexTuple) PageGetItem(page, PageGetItemId(page, off));
			int			ntids = BTreeTupleIsPosting(itup) ?
			BTreeTupleGetNPosting(itup) : 1;
			int			i;

			for (i = 0; i < ntids; i++)
			{
				ItemPointer tid = BTreeTupleIsPosting(itup) ?
				BTreeTupleGetPostingN(itup, i) : &itup->t_tid;
				BlockNumber heapblk = ItemPointerGetBlockNumber(tid);

				if (heapblk != last_heap)
				{
					last_heap = heapblk;
					last_visible = !snapshot->takenDuringRecovery &&
						VM_ALL_VISIBLE(rel, heapblk, &vmbuf);
				}
				if (last_visible)
					rows++;
				else
					recheck = bms_add_member(recheck, (int) heapblk);
			}
		}
		UnlockReleaseBuffer(buf);
	}
	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);
	index_close(index, AccessShareLock);

	b = -1;
	while ((b = bms_next_member(recheck, b)) >= 0)
	{
		CHECK_FOR_INTERRUPTS();
		rows += count_page(rel, (BlockNumber) b, snapshot, strategy);
	}
	bms_free(recheck);
	return rows;
}

/*
 * The exact number of rows in the table relid (qname: its quoted name), as
 * a fresh snapshot sees them; the caller keeps writers out.  A heap table
 * whose pages are mostly all-visible is counted through its smallest full
 * index (count_rows_by_index); otherwise every heap page is read.
 */
int64
sipcall_count_rows(Oid relid, const char *qname)
{
	Relation	rel = table_open(relid, AccessShareLock);
	BufferAccessStrategy strategy;
	Snapshot	snapshot;
	BlockNumber nblocks;
	BlockNumber blkno;
	Oid			indexid;
	int64		rows = 0;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relam != HEAP_TABLE_AM_OID)
	{
		table_close(rel, AccessShareLock);
		return sipcall_spi_count(psprintf("SELECT pg_catalog.count(*) FROM ONLY %s", qname),
						 0, false);
	}

	/* see every row committed before the lock was had, and our own */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	strategy = GetAccessStrategy(BAS_BULKREAD);
	nblocks = RelationGetNumberOfBlocks(rel);

	/*
	 * relallvisible is VACUUM's estimate; only the choice of method rests
	 * on it, never the count.
	 */
	indexid = smallest_full_index(rel);
	if (OidIsValid(indexid) && nblocks > 0 &&
		(double) rel->rd_rel->relallvisible >= 0.5 * nblocks)
	{
		elog(DEBUG1, "sipcall: counting the rows of %s through index %s",
			 qname, get_rel_name(indexid));
		rows = count_rows_by_index(rel, indexid, snapshot, strategy);
	}
	else
	{
		elog(DEBUG1, "sipcall: counting the rows of %s page by page", qname);
		for (blkno = 0; blkno < nblocks; blkno++)
		{
			CHECK_FOR_INTERRUPTS();
			rows += count_page(rel, blkno, snapshot, strategy);
		}
	}

	FreeAccessStrategy(strategy);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return rows;
}
