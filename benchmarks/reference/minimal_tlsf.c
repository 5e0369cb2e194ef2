// Reference figure for the TLSF targets (docs/benchmarks.md, "TLSF against glibc"): a minimal
// TLSF in C (the algorithm of mattconte/tlsf: two-level segregated fit, immediate coalescing;
// malloc and free only, no lock, no checks, no statistics) against glibc malloc on the same
// traces as TlsfBenchmarks: 1 000 blocks live, malloc+free pairs of a fixed 64 bytes, or of 1 024
// sizes drawn log-uniformly from 16 B to 4 KiB. Not part of MemTrace: it shows what TLSF itself
// costs against glibc on the machine at hand, before any of what MemTrace's regions add.
// With "churn" each step frees one of the live blocks (a fixed random sequence) and allocates in its
// place, as TlsfChurnBenchmarks does, instead of freeing the block it has just allocated.
//
//   gcc -O2 -o minimal_tlsf minimal_tlsf.c -lm && ./minimal_tlsf && ./minimal_tlsf mixed
//   ./minimal_tlsf 64B churn && ./minimal_tlsf mixed churn
//
// Timed with clock_gettime over 20 million pairs (not BenchmarkDotNet); run it a few times.
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <string.h>
typedef struct bh { struct bh* prev_phys; size_t size; struct bh* next_free; struct bh* prev_free; } bh;
enum { SLL=5, SLC=32, ALIGNL=3, FLS_=SLL+ALIGNL, FLMAX=32, FLC=FLMAX-FLS_+1, SMALL=1<<FLS_ };
typedef struct { bh null; unsigned fl; unsigned sl[FLC]; bh* blocks[FLC][SLC]; } ctl;
#define FREE 1u
#define PFREE 2u
static inline size_t bsize(bh*b){return b->size&~(size_t)3;}
static inline bh* bnext(bh*b){return (bh*)((char*)b+16+bsize(b)-8);}
static inline bh* linknext(bh*b){bh*n=bnext(b);n->prev_phys=b;return n;}
static inline int fls_(size_t x){return 63-__builtin_clzl(x);}
static inline void mapi(size_t s,int*f,int*l){ if(s<SMALL){*f=0;*l=(int)s/(SMALL/SLC);} else {int fl=fls_(s);*l=(int)(s>>(fl-SLL))^(1<<SLL);*f=fl-(FLS_-1);} }
static inline void rmfree(ctl*c,bh*b,int f,int l){bh*p=b->prev_free,*n=b->next_free;n->prev_free=p;p->next_free=n;if(c->blocks[f][l]==b){c->blocks[f][l]=n;if(n==&c->null){c->sl[f]&=~(1u<<l);if(!c->sl[f])c->fl&=~(1u<<f);}}}
static inline void insfree(ctl*c,bh*b,int f,int l){bh*cur=c->blocks[f][l];b->next_free=cur;b->prev_free=&c->null;cur->prev_free=b;c->blocks[f][l]=b;c->fl|=1u<<f;c->sl[f]|=1u<<l;}
static inline void brem(ctl*c,bh*b){int f,l;mapi(bsize(b),&f,&l);rmfree(c,b,f,l);}
static inline void bins(ctl*c,bh*b){int f,l;mapi(bsize(b),&f,&l);insfree(c,b,f,l);}
static void* tmalloc(ctl*c,size_t size){
  size_t adj=(size+7)&~(size_t)7; if(adj<24)adj=24;
  size_t s=adj; if(s>=SMALL){s+=((size_t)1<<(fls_(s)-SLL))-1;}
  int f,l; mapi(s,&f,&l);
  unsigned slm=c->sl[f]&(~0u<<l); if(!slm){unsigned flm=c->fl&(~0u<<(f+1)); if(!flm) return 0; f=__builtin_ctz(flm); slm=c->sl[f];}
  l=__builtin_ctz(slm); bh*b=c->blocks[f][l]; rmfree(c,b,f,l);
  if(bsize(b)>=sizeof(bh)+adj){ bh*r=(bh*)((char*)b+16+adj-8); size_t rs=bsize(b)-(adj+8); r->size=rs; b->size=adj|(b->size&3);
    bh*n=linknext(r); n->size|=PFREE; r->size|=FREE; linknext(b); r->size|=PFREE; bins(c,r);}
  bh*n=bnext(b); n->size&=~(size_t)PFREE; b->size&=~(size_t)FREE; return (char*)b+16;
}
static void tfree(ctl*c,void*p){ bh*b=(bh*)((char*)p-16); bh*n=linknext(b); n->size|=PFREE; b->size|=FREE;
  if(b->size&PFREE){bh*pr=b->prev_phys; brem(c,pr); pr->size+=bsize(b)+8; linknext(pr); b=pr;}
  n=bnext(b); if(n->size&FREE){brem(c,n); b->size+=bsize(n)+8; linknext(b);} bins(c,b);}
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
int main(int argc,char**argv){
  int mixed = argc>1 && strcmp(argv[1],"mixed")==0, churn = argc>2 && strcmp(argv[2],"churn")==0;
  size_t bytes=4<<20; char*mem=aligned_alloc(64,bytes); ctl*c=(ctl*)mem; memset(c,0,sizeof(ctl));
  c->null.next_free=c->null.prev_free=&c->null; for(int i=0;i<FLC;i++)for(int j=0;j<SLC;j++)c->blocks[i][j]=&c->null;
  char*pool=mem+sizeof(ctl); size_t pb=(bytes-sizeof(ctl)-16)&~(size_t)7; bh*b=(bh*)(pool-8); b->size=pb|FREE; bins(c,b); bh*n=linknext(b); n->size=PFREE;
  static size_t sizes[1024]; static int victim[1024]; srand(20261125);
  for(int i=0;i<1024;i++){ double r=(double)rand()/RAND_MAX; sizes[i]= mixed ? (size_t)(__builtin_exp2(4+r*8)+0.5) : 64; }
  for(int i=0;i<1024;i++) victim[i]=rand()%1000;
  void* live[1000]; for(int i=0;i<1000;i++) live[i]=tmalloc(c,sizes[i]);
  void* lv[1000]; for(int i=0;i<1000;i++) lv[i]=malloc(sizes[i]);
  for(int rep=0;rep<3;rep++){
  long N=20000000; double t0=now(), t1, t2, t3;
  if(churn){
    for(long i=0;i<N;i++){int v=victim[i&1023]; tfree(c,live[v]); live[v]=tmalloc(c,sizes[i&1023]);} t1=now();
    t2=now(); for(long i=0;i<N;i++){int v=victim[i&1023]; free(lv[v]); lv[v]=malloc(sizes[i&1023]); __asm__ volatile(""::"r"(lv[v]):"memory");} t3=now();
  } else {
    for(long i=0;i<N;i++){void*p=tmalloc(c,sizes[i&1023]); tfree(c,p);} t1=now();
    t2=now(); for(long i=0;i<N;i++){void*p=malloc(sizes[i&1023]); __asm__ volatile(""::"r"(p):"memory"); free(p);} t3=now();
  }
  printf("%s%s tlsf %.2f ns/pair, glibc %.2f ns/pair, ratio %.2f\n", mixed?"mixed":"64B", churn?" churn":"", (t1-t0)/N,(t3-t2)/N,(t1-t0)/(t3-t2)); }
  for(int i=0;i<1000;i++) free(lv[i]);
  return 0; }
